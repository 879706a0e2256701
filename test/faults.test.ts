/** Storage faults: a locked database and a full disk answer 503 with Retry-After, and lose nothing. */
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { makeApp, post, runEvents, type TestApp } from './helper.js';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

/** An app with a run started, and another connection holding the database's write lock. */
async function startedThenLocked() {
  t = await makeApp();
  const r = runEvents();
  expect((await post(t.app, r.started())).statusCode).toBe(200);
  const other = new Database(t.config.dbPath);
  other.prepare('BEGIN IMMEDIATE').run();
  return { app: t.app, db: t.db, r, other };
}

describe('storage faults', () => {
  it('a locked database gives 503 with Retry-After, then recovers', async () => {
    const { app, db, r, other } = await startedThenLocked();
    const locked = await post(app, r.task());
    expect(locked.statusCode).toBe(503);
    expect(locked.headers['retry-after']).toBe('5');
    expect(locked.json()).toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(503);
    other.prepare('ROLLBACK').run();
    other.close();
    expect((await post(app, r.task())).statusCode).toBe(200);
    expect(db.prepare('SELECT count(*) FROM events').pluck().get()).toBe(2);
  }, 20_000);

  it('a lock held briefly by another connection is waited out with the event loop free, then the delivery is stored', async () => {
    // As the checkpointer's RESTART or a backup holds it.
    const { app, db, r, other } = await startedThenLocked();
    let answered = false;
    const delivery = post(app, r.task()).finally(() => {
      answered = true;
    });
    // Waiting in SQLite's busy handler would hold the loop (and this timer) for its whole
    // 2 s timeout and answer 503; the receiver answers a probe meanwhile and keeps the delivery.
    await sleep(100);
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expect(answered).toBe(false);
    other.prepare('COMMIT').run();
    other.close();
    expect((await delivery).statusCode).toBe(200);
    expect(db.prepare('SELECT count(*) FROM events').pluck().get()).toBe(2);
  }, 20_000);

  it('a full disk gives 503 and keeps every acknowledged event', async () => {
    t = await makeApp();
    const acked: string[] = [];
    const r = runEvents();
    const first = r.started();
    expect((await post(t.app, first)).statusCode).toBe(200);
    acked.push(first.event_id);
    // Cap the file at its current size: the next page SQLite needs is "disk full" (SQLITE_FULL).
    const pages = t.db.pragma('page_count', { simple: true }) as number;
    t.db.pragma(`max_page_count = ${pages}`);
    let refused = 0;
    for (let i = 0; i < 50; i++) {
      const e = r.task('ok', `big task ${i}`, 'x'.repeat(4000));
      const res = await post(t.app, e);
      if (res.statusCode === 200) acked.push(e.event_id);
      else {
        expect(res.statusCode).toBe(503);
        expect(res.json().message).toMatch(/SQLITE_FULL/);
        expect(res.headers['retry-after']).toBeDefined();
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(0);
    t.db.pragma('max_page_count = 1073741823');
    const stored = t.db.prepare('SELECT event_id FROM events').pluck().all();
    expect(stored.sort()).toEqual(acked.sort());
    expect(t.db.pragma('integrity_check', { simple: true })).toBe('ok');
  });
});
