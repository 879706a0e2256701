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
    const today = now;
    t = await makeApp({ retentionDays: 30 }, () => now);
    // 40 runs of an old host, delivered 60 days ago, each with bulky task messages.
    const oldHost = host({ hostname: 'retired', machine_id: undefined });
    now = today - 60 * DAY;
    for (let i = 0; i < 40; i++) {
      const r = runEvents({ host: oldHost, start: now - 60 * DAY });
      await post(t.app, {
        events: [r.started(), ...Array.from({ length: 20 }, () => r.task('ok', 'bulk', 'x'.repeat(4000))), r.finished()],
      });
    }
    now = today;
    // A live host: one old run and one recent run.
    const liveHost = host({ hostname: 'live', machine_id: undefined });
    const oldRun = runEvents({ host: liveHost, start: now - 45 * DAY });
    const newRun = runEvents({ host: liveHost, start: now - DAY });
    await post(t.app, { events: [oldRun.started(), oldRun.finished()] });
    await post(t.app, { events: [newRun.started(), newRun.task(), newRun.finished()] });
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

  it("keeps expected VMs however long they are silent, and each host's newest check-in", async () => {
    let now = Date.now();
    t = await makeApp({ retentionDays: 30, adminToken: 'admin-token-0123456789abcdef' }, () => now);
    await t.app.inject({
      method: 'PUT',
      url: '/fleet',
      headers: { authorization: 'Bearer admin-token-0123456789abcdef', 'content-type': 'application/json' },
      payload: JSON.stringify({ vms: [{ name: 'quiet-01' }] }),
    });
    const checkin = (hostname: string) => ({
      v: 1,
      kind: 'checkin',
      event_id: crypto.randomUUID(),
      run_id: crypto.randomUUID(),
      seq: 0,
      time: new Date(now).toISOString(),
      host: { hostname },
      data: { result: 'skipped', exit_code: 0, duration_ms: 5 },
    });
    await post(t.app, checkin('periodic'));
    now += 60 * DAY;
    await post(t.app, checkin('periodic'));
    expect(t.app.retention.prune(now)).toEqual({ runs: 0, hosts: 0, cloudInitEvents: 0, checkins: 1 });
    expect(count('checkins')).toBe(1);
    expect(t.db.prepare('SELECT hostname FROM hosts ORDER BY hostname').pluck().all()).toEqual(['periodic', 'quiet-01']);
  });
});

describe('retention by value', () => {
  it("keeps unchanged runs 7 days, changed, failed and drifted ones 90, and each host's latest of each outcome", async () => {
    const now = Date.parse('2026-09-01T00:00:00Z');
    t = await makeApp({ retentionDays: 90, retentionUnchangedDays: 7 }, () => now);
    type Gen = { runId: string; host: string; start: number; outcome: 'changed' | 'unchanged' | 'pending'; failed: boolean };
    const made: Gen[] = [];
    const write = (h: ReturnType<typeof host>, start: number, kind: 'changed' | 'unchanged' | 'pending' | 'failed') => {
      const r = runEvents({ host: h, start });
      const status = kind === 'unchanged' || kind === 'failed' ? 'ok' : 'changed';
      const events = [
        r.started({ check_mode: kind === 'pending' }),
        r.task(status, 'file'),
        r.task(kind === 'failed' ? 'failed' : 'ok', 'service'),
        r.finished(kind === 'failed' ? 1 : 0),
      ];
      t!.app.ctx.ingest.writeEvents(events.map((event) => ({ event, address: '10.0.0.9', receivedAt: start + 5000 })));
      made.push({ runId: r.runId, host: h.hostname, start, outcome: kind === 'failed' ? 'unchanged' : kind, failed: kind === 'failed' });
    };
    // A host pulling every 6 hours for 120 days: mostly unchanged, some changes, failures and check runs.
    const busy = host({ hostname: 'busy', machine_id: 'cccccccccccccccccccccccccccccc01' });
    for (let i = 0; i < 480; i++)
      write(
        busy,
        now - 120 * DAY + i * 6 * 3_600_000,
        i % 10 === 3 ? 'changed' : i % 15 === 4 ? 'failed' : i === 5 ? 'pending' : 'unchanged',
      );
    // A quiet host whose one change is older than the long cut-off: it stays as its latest change.
    const quiet = host({ hostname: 'quiet', machine_id: 'cccccccccccccccccccccccccccccc02' });
    write(quiet, now - 100 * DAY, 'changed');
    for (let i = 0; i < 20; i++) write(quiet, now - 20 * DAY + i * DAY, 'unchanged');
    // A host gone silent for longer than the long cut-off: all of it goes.
    const gone = host({ hostname: 'gone', machine_id: 'cccccccccccccccccccccccccccccc03' });
    for (let i = 0; i < 5; i++) write(gone, now - 110 * DAY + i * DAY, i === 2 ? 'changed' : 'unchanged');
    t.db.prepare(`UPDATE hosts SET last_seen_at = ? WHERE hostname = 'gone'`).run(now - 105 * DAY);

    const result = t.app.retention.prune(now);
    const kept = new Set(t.db.prepare('SELECT run_id FROM runs').pluck().all() as string[]);
    const latestOf = (h: string, pick: (g: Gen) => boolean) =>
      made.filter((g) => g.host === h && pick(g)).sort((a, b) => b.start - a.start)[0]?.runId;
    const always = new Set(
      ['busy', 'quiet'].flatMap((h) => [
        latestOf(h, () => true),
        ...(['changed', 'unchanged', 'pending'] as const).map((o) => latestOf(h, (g) => g.outcome === o)),
      ]),
    );
    const expected = made.filter((g) => {
      if (g.host === 'gone') return false;
      if (always.has(g.runId)) return true;
      const cutoff = g.outcome === 'unchanged' && !g.failed ? now - 7 * DAY : now - 90 * DAY;
      return g.start >= cutoff;
    });
    expect([...kept].sort()).toEqual(expected.map((g) => g.runId).sort());
    expect(result.runs).toBe(made.length - expected.length);
    expect(result.hosts).toBe(1);
    // The pending check run (120 days old) and the quiet host's old change stay as the latest of their outcome.
    expect(kept.has(made.find((g) => g.outcome === 'pending')!.runId)).toBe(true);
    expect(kept.has(made.find((g) => g.host === 'quiet' && g.outcome === 'changed')!.runId)).toBe(true);
    // Failed runs with nothing changed are kept the long time.
    expect(expected.filter((g) => g.failed && g.start < now - 7 * DAY).length).toBeGreaterThan(5);
    expect(t.app.retention.prune(now).runs).toBe(0);
  });
});
