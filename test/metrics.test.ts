import { execFileSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { makeApp, post, runEvents, host, type TestApp } from './helper.js';
import { requireTool } from './tools.js';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

async function scrape(app: TestApp['app']): Promise<string> {
  const res = await app.inject({ method: 'GET', url: '/metrics' });
  expect(res.statusCode).toBe(200);
  expect(res.headers['content-type']).toMatch(/^text\/plain; version=0.0.4/);
  return res.body;
}

describe('/metrics', () => {
  it('exports ingest, run and per-host series', async () => {
    t = await makeApp();
    const a = runEvents({ host: host({ hostname: 'a', machine_id: undefined }) });
    const b = runEvents({ host: host({ hostname: 'b', machine_id: undefined }) });
    const aStarted = a.started();
    await post(t.app, { events: [aStarted, a.task('changed'), a.finished()] });
    await post(t.app, { events: [b.started(), b.task('failed'), b.finished(1)] });
    await post(t.app, aStarted);
    const text = await scrape(t.app);
    expect(text).toMatch(/webhook_events_received_total\{kind="task_result",outcome="stored"\} 2/);
    expect(text).toMatch(/webhook_events_received_total\{kind="run_started",outcome="duplicate"\} 1/);
    expect(text).toMatch(/webhook_runs_finished_total\{status="succeeded"\} 1/);
    expect(text).toMatch(/webhook_runs_finished_total\{status="failed"\} 1/);
    expect(text).toMatch(/webhook_hosts\{status="failed"\} 1/);
    expect(text).toMatch(/webhook_host_last_run_status\{host="a"\} 0/);
    expect(text).toMatch(/webhook_host_last_run_status\{host="b"\} 1/);
    expect(text).toMatch(/webhook_host_last_report_timestamp_seconds\{host="a"\} \d+/);
    expect(text).toMatch(/webhook_database_size_bytes [1-9]\d*/);
    expect(text).toMatch(/webhook_ingest_duration_seconds_count 3/);
  });

  it('counts every answer by route template, method and status class, across scrapes', async () => {
    t = await makeApp();
    const count = (text: string, route: string, method: string, status: string) =>
      Number(
        text.match(
          new RegExp(`^webhook_http_requests_total\\{route="${route}",method="${method}",status="${status}"\\} (\\d+)$`, 'm'),
        )?.[1] ?? 0,
      );
    await post(t.app, runEvents().started());
    expect((await t.app.inject({ method: 'POST', url: '/webhook', payload: '{' })).statusCode).toBe(400);
    expect((await t.app.inject({ method: 'GET', url: '/hosts/nobody' })).statusCode).toBe(404);
    expect((await t.app.inject({ method: 'HEAD', url: '/healthz' })).statusCode).toBe(200);
    expect((await t.app.inject({ method: 'GET', url: '/no/such/page' })).statusCode).toBe(404);
    const first = await scrape(t.app);
    expect(count(first, '/webhook', 'POST', '2xx')).toBe(1);
    expect(count(first, '/webhook', 'POST', '4xx')).toBe(1);
    expect(count(first, '/hosts/:host', 'GET', '4xx')).toBe(1);
    expect(count(first, '/healthz', 'HEAD', '2xx')).toBe(1);
    expect(count(first, 'unmatched', 'GET', '4xx')).toBe(1);
    // A scrape hands over what was counted since the last one: the totals only grow.
    await post(t.app, runEvents().started());
    const second = await scrape(t.app);
    expect(count(second, '/webhook', 'POST', '2xx')).toBe(2);
    expect(count(second, '/webhook', 'POST', '4xx')).toBe(1);
    // The first scrape is itself an answer of /metrics.
    expect(count(second, '/metrics', 'GET', '2xx')).toBe(1);
  });

  it('drops a host series when the host is pruned', async () => {
    const now = Date.now();
    // The host delivered its run three days ago.
    let clock = now - 3 * 86_400_000;
    t = await makeApp({ retentionDays: 1 }, () => clock);
    const old = runEvents({ host: host({ hostname: 'old-vm', machine_id: undefined }), start: clock });
    await post(t.app, { events: [old.started(), old.finished()] });
    clock = now;
    expect(await scrape(t.app)).toMatch(/host="old-vm"/);
    const pruned = t.app.retention.prune(now);
    expect(pruned).toMatchObject({ runs: 1, hosts: 1 });
    expect(await scrape(t.app)).not.toMatch(/old-vm/);
  });

  it('passes promtool check metrics', async () => {
    if (!requireTool('promtool')) return;
    t = await makeApp();
    const r = runEvents();
    await post(t.app, { events: [r.started(), r.task(), r.finished()] });
    await post(t.app, '{oops');
    const text = await scrape(t.app);
    // promtool exits non-zero and prints each problem when the exposition is not clean.
    const out = execFileSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(out.trim()).toBe('');
  });
});
