import { afterEach, describe, expect, it } from 'vitest';
import type { HostSummary, Fleet, RunSummary } from '../../src/protocol/api.js';
import { runStatusFromFinish } from '../../src/protocol/status.js';
import { getJson, makeApp, post, runEvents, host, type TestApp } from '../helper.js';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const stats = (failed = 0, unreachable = 0) => ({
  localhost: { ok: 1, changed: 0, failed, skipped: 0, unreachable, rescued: 0, ignored: 0 },
});

describe('run status rules', () => {
  it('fails on a failed result, a non-zero exit or a failed/unreachable host', () => {
    expect(runStatusFromFinish({ result: 'success', duration_ms: 1, stats: stats() })).toBe('succeeded');
    expect(runStatusFromFinish({ result: 'failed', duration_ms: 1, stats: stats() })).toBe('failed');
    expect(runStatusFromFinish({ result: 'success', exit_code: 2, duration_ms: 1, stats: stats() })).toBe('failed');
    expect(runStatusFromFinish({ result: 'success', duration_ms: 1, stats: stats(1) })).toBe('failed');
    expect(runStatusFromFinish({ result: 'success', duration_ms: 1, stats: stats(0, 1) })).toBe('failed');
  });
});

describe('derived run and host status', () => {
  it('goes running → stale after the timeout → running again on a later event → failed', async () => {
    let now = Date.parse('2026-03-01T10:00:00Z');
    t = await makeApp({ staleAfterMs: 60_000 }, () => now);
    const r = runEvents({ start: now });
    await post(t.app, r.started());
    const status = async () => (await getJson<RunSummary>(t!.app, `/runs/${r.runId}`)).body.status;
    expect(await status()).toBe('running');
    now += 61_000;
    expect(await status()).toBe('stale');
    const hostView = await getJson<HostSummary>(t.app, '/hosts/web-01');
    expect(hostView.body.status).toBe('stale');
    const metrics = (await t.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/webhook_runs\{status="stale"\} 1/);
    expect(metrics).toMatch(/webhook_host_last_run_status\{host="web-01"\} 3/);
    await post(t.app, r.task('failed'));
    expect(await status()).toBe('running');
    await post(t.app, r.finished(1));
    expect(await status()).toBe('failed');
    now += 10 * 61_000;
    // Finished runs never go stale.
    expect(await status()).toBe('failed');
  });

  it('takes a host status from its latest run, and booting for hosts only cloud-init has reported', async () => {
    t = await makeApp();
    const old = runEvents({ host: host({ hostname: 'a', machine_id: undefined }), start: Date.now() - 3600_000 });
    const latest = runEvents({ host: host({ hostname: 'a', machine_id: undefined }), start: Date.now() });
    await post(t.app, { events: [latest.started(), latest.finished()] });
    // A late delivery of an older failed run does not replace the latest.
    await post(t.app, { events: [old.started(), old.finished(2)] });
    await t.app.inject({
      method: 'POST',
      url: '/cloud-init/b/phone-home',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'instance_id=iid-b&hostname=b&fqdn=b.example',
    });
    const fleet = await getJson<Fleet>(t.app, '/hosts');
    const byName = Object.fromEntries(fleet.body.hosts.map((h) => [h.hostname, h.status]));
    expect(byName).toEqual({ a: 'succeeded', b: 'booting' });
    expect(fleet.body.by_status).toMatchObject({ succeeded: 1, booting: 1, failed: 0 });
  });
});
