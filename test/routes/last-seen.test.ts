/**
 * When a host was last seen: a delivery to the host's latest run from its last address writes only
 * the run, so the answer comes from the host's row and its latest run together. Every reader (API,
 * fleet list, metrics) must give the time of the newest delivery all the same.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { getJson, makeApp, runEvents, type TestApp } from '../helper.js';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const T0 = Date.parse('2026-11-02T08:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();

async function deliver(app: TestApp['app'], events: unknown[], remoteAddress = '10.0.0.5') {
  const res = await app.inject({
    method: 'POST',
    url: '/webhook',
    remoteAddress,
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify({ events }),
  });
  expect(res.statusCode).toBe(200);
}

interface HostAnswer {
  hostname: string;
  machine_id: string | null;
  last_seen_at: string;
  last_address: string | null;
}

const lastSeenGauge = (text: string, hostname: string) =>
  Number(new RegExp(`^webhook_host_last_report_timestamp_seconds\\{host="${hostname}"\\} (\\S+)$`, 'm').exec(text)?.[1]);

describe('last seen', () => {
  it('is the newest delivery to the latest run, in the API, the fleet list and the metrics, without a host row write', async () => {
    let now = T0;
    t = await makeApp({}, () => now);
    const r = runEvents({ start: T0 });
    await deliver(t.app, [r.started(), r.task()]);
    now = T0 + 7000;
    await deliver(t.app, [r.task(), r.task()]);
    now = T0 + 9000;
    await deliver(t.app, [r.task()]);

    // The row still says the first delivery: the later ones wrote only their run.
    expect(t.db.prepare('SELECT last_seen_at FROM hosts').pluck().get()).toBe(T0);
    const one = await getJson<HostAnswer>(t.app, '/hosts/web-01');
    expect(one.body).toMatchObject({ last_seen_at: iso(T0 + 9000), last_address: '10.0.0.5' });
    const all = await getJson<{ hosts: HostAnswer[] }>(t.app, '/hosts');
    expect(all.body.hosts[0]?.last_seen_at).toBe(iso(T0 + 9000));
    const metrics = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(lastSeenGauge(metrics.body, 'web-01')).toBe((T0 + 9000) / 1000);
  });

  it('writes the host when the address changes, and keeps the newest time when a newer run takes over', async () => {
    let now = T0;
    t = await makeApp({}, () => now);
    const first = runEvents({ start: T0 });
    await deliver(t.app, [first.started(), first.task()]);
    now = T0 + 4000;
    await deliver(t.app, [first.task()], '10.0.0.6');
    expect((await getJson<HostAnswer>(t.app, '/hosts/web-01')).body).toMatchObject({
      last_seen_at: iso(T0 + 4000),
      last_address: '10.0.0.6',
    });

    now = T0 + 8000;
    await deliver(t.app, [first.task()], '10.0.0.6');
    // A newer run becomes the latest; the time the older one was last heard from stays.
    const second = runEvents({ start: T0 + 60_000 });
    now = T0 + 60_000;
    await deliver(t.app, [second.started()], '10.0.0.6');
    now = T0 + 61_000;
    // A late delivery of the older run, no longer the latest, counts too.
    await deliver(t.app, [first.finished()], '10.0.0.6');
    const answer = await getJson<HostAnswer>(t.app, '/hosts/web-01');
    expect(answer.body.last_seen_at).toBe(iso(T0 + 61_000));
    expect(t.db.prepare('SELECT latest_run_id FROM hosts').pluck().get()).toBe(second.runId);
  });
});
