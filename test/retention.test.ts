import { afterEach, describe, expect, it } from 'vitest';
import { makeApp, post, runEvents, host, type TestApp } from './helper.js';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const DAY = 86_400_000;
const count = (table: string) => t!.db.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number;

describe('retention', () => {
  it('prunes old runs with their events and unseen hosts, keeps the rest, and gives space back', async () => {
    let now = Date.now();
    t = await makeApp({ retentionDays: 30 }, () => now);
    // 40 runs of an old host, 60 days ago, each with bulky task messages.
    const oldHost = host({ hostname: 'retired', machine_id: undefined });
    for (let i = 0; i < 40; i++) {
      const r = runEvents({ host: oldHost, start: now - 60 * DAY });
      await post(t.app, { events: [r.started(), ...Array.from({ length: 20 }, () => r.task('ok', 'bulk', 'x'.repeat(4000))), r.finished()] });
    }
    // A live host: one old run and one recent run.
    const liveHost = host({ hostname: 'live', machine_id: undefined });
    const oldRun = runEvents({ host: liveHost, start: now - 45 * DAY });
    const newRun = runEvents({ host: liveHost, start: now - DAY });
    await post(t.app, { events: [oldRun.started(), oldRun.finished()] });
    await post(t.app, { events: [newRun.started(), newRun.task(), newRun.finished()] });
    // Make the retired host's last contact old too.
    t.db.prepare(`UPDATE hosts SET last_seen_at = ? WHERE hostname = 'retired'`).run(now - 60 * DAY);
    t.db.pragma('wal_checkpoint(TRUNCATE)');
    const pagesBefore = t.db.pragma('page_count', { simple: true }) as number;

    const result = t.app.retention.prune(now);
    expect(result).toMatchObject({ runs: 41, hosts: 1 });
    expect(count('runs')).toBe(1);
    expect(count('events')).toBe(3);
    expect(t.db.prepare('SELECT hostname FROM hosts').pluck().all()).toEqual(['live']);
    expect((await t.app.inject({ method: 'GET', url: `/runs/${newRun.runId}` })).statusCode).toBe(200);
    expect((await t.app.inject({ method: 'GET', url: `/runs/${oldRun.runId}` })).statusCode).toBe(404);
    t.db.pragma('wal_checkpoint(TRUNCATE)');
    const pagesAfter = t.db.pragma('page_count', { simple: true }) as number;
    // Incremental vacuum returned the freed pages: the file shrank substantially.
    expect(pagesAfter).toBeLessThan(pagesBefore / 2);
    expect(t.db.pragma('freelist_count', { simple: true })).toBe(0);
    // Nothing left to do on a second pass.
    now += 1000;
    expect(t.app.retention.prune(now)).toEqual({ runs: 0, hosts: 0, cloudInitEvents: 0, checkins: 0 });
  });

  it('keeps expected VMs however long they are silent, and each host\'s newest check-in', async () => {
    let now = Date.now();
    t = await makeApp({ retentionDays: 30, adminToken: 'admin-token-0123456789abcdef' }, () => now);
    await t.app.inject({ method: 'PUT', url: '/fleet', headers: { authorization: 'Bearer admin-token-0123456789abcdef', 'content-type': 'application/json' }, payload: JSON.stringify({ vms: [{ name: 'quiet-01' }] }) });
    const checkin = (hostname: string) => ({
      v: 1, kind: 'checkin', event_id: crypto.randomUUID(), run_id: crypto.randomUUID(), seq: 0,
      time: new Date(now).toISOString(), host: { hostname }, data: { result: 'skipped', exit_code: 0, duration_ms: 5 },
    });
    await post(t.app, checkin('periodic'));
    now += 60 * DAY;
    await post(t.app, checkin('periodic'));
    expect(t.app.retention.prune(now)).toEqual({ runs: 0, hosts: 0, cloudInitEvents: 0, checkins: 1 });
    expect(count('checkins')).toBe(1);
    expect(t.db.prepare('SELECT hostname FROM hosts ORDER BY hostname').pluck().all()).toEqual(['periodic', 'quiet-01']);
  });
});
