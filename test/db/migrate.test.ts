import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/database.js';
import { DatabaseTooNewError, migrate, readMigrations } from '../../src/db/migrate.js';
import type { WebhookEvent } from '../../src/protocol/events.js';
import { createIngestStore } from '../../src/store/ingest-store.js';
import { runEvents, tempDir } from '../helper.js';

type RunEvent = Exclude<WebhookEvent, { kind: 'checkin' }>;

/**
 * Rows as an older version stored them, written with SQL: this build's store prepares statements
 * for the latest schema.
 */
function writeOld(
  db: ReturnType<typeof openDatabase>,
  id: number,
  hostname: string,
  runId: string,
  events: RunEvent[],
  receivedAt: number,
) {
  db.prepare('INSERT INTO hosts (id, hostname, first_seen_at, last_seen_at) VALUES (?, ?, 1, 1)').run(id, hostname);
  db.prepare(`INSERT INTO runs (id, run_id, host_id, status, started_at, last_event_at) VALUES (?, ?, ?, 'running', 1, ?)`).run(
    id,
    runId,
    id,
    receivedAt,
  );
  const insert = db.prepare('INSERT INTO events (event_id, run, seq, kind, time, received_at, data) VALUES (?, ?, ?, ?, ?, ?, ?)');
  for (const e of events) insert.run(e.event_id, id, e.seq, e.kind, Date.parse(e.time), receivedAt, JSON.stringify(e.data));
}

/** A database file migrated up to `version` only. */
function databaseAt(version: number) {
  const db = openDatabase(join(tempDir(), `v${version}.db`));
  migrate(
    db,
    readMigrations().filter((m) => m.version <= version),
  );
  return db;
}

describe('migrations', () => {
  it('bring an empty file to the latest version with WAL, foreign keys and incremental vacuum', () => {
    const db = openDatabase(join(tempDir(), 'new.db'));
    const latest = readMigrations().length;
    expect(migrate(db)).toEqual(Array.from({ length: latest }, (_, i) => i + 1));
    expect(db.pragma('user_version', { simple: true })).toBe(latest);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(db.pragma('auto_vacuum', { simple: true })).toBe(2);
    const tables = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).pluck().all();
    expect(tables).toEqual(expect.arrayContaining(['cloud_init_events', 'events', 'host_ips', 'hosts', 'runs']));
    // A second run applies nothing.
    expect(migrate(db)).toEqual([]);
    db.close();
  });

  it('refuse a database newer than the code knows', () => {
    const path = join(tempDir(), 'future.db');
    const db = openDatabase(path);
    migrate(db);
    db.pragma('user_version = 99');
    expect(() => migrate(db)).toThrow(DatabaseTooNewError);
    expect(() => migrate(db)).toThrow(/schema version 99 is newer than this build knows/);
    db.close();
  });

  it('roll back a failing migration together with its version bump', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'm'));
    writeFileSync(join(dir, 'm', '001_ok.sql'), 'CREATE TABLE a (x INTEGER);');
    writeFileSync(join(dir, 'm', '002_broken.sql'), 'CREATE TABLE b (y INTEGER); INSERT INTO nowhere VALUES (1);');
    const db = openDatabase(join(dir, 'x.db'));
    expect(() => migrate(db, readMigrations(join(dir, 'm')))).toThrow(/no such table: nowhere/);
    expect(db.pragma('user_version', { simple: true })).toBe(1);
    expect(db.prepare(`SELECT count(*) FROM sqlite_master WHERE name = 'b'`).pluck().get()).toBe(0);
    db.close();
  });

  it('refuse a gap in the numbering', () => {
    const dir = tempDir();
    writeFileSync(join(dir, '001_a.sql'), 'SELECT 1;');
    writeFileSync(join(dir, '003_c.sql'), 'SELECT 1;');
    expect(() => readMigrations(dir)).toThrow(/003_c.sql: expected number 2/);
  });

  it("008 records a version-7 database's changes at their run's finish, and lists them by it", () => {
    const db = databaseAt(7);
    // Version 7's rows, as its code wrote them: a finished run's changed task, and one whose run_finished was never stored.
    const r = runEvents({ host: { hostname: 'web-01' } });
    const other = runEvents({ host: { hostname: 'db-01' } });
    writeOld(db, 1, 'web-01', r.runId, [r.started(), r.task('changed', 'file')] as RunEvent[], 100);
    writeOld(db, 2, 'db-01', other.runId, [other.started(), other.task('changed', 'file')] as RunEvent[], 200);
    db.prepare(`INSERT INTO events (event_id, run, seq, kind, time, received_at, data) VALUES (?, 1, 2, 'run_finished', 3, 300, '{}')`).run(
      randomUUID(),
    );
    db.exec(`INSERT INTO task_changes (run, seq, host_id, time, task_key, change)
      SELECT run, seq, run, time, '["Configure","file",1]', 'intentional' FROM events WHERE kind = 'task_result'`);

    expect(migrate(db)).toEqual([8]);
    const recorded = db
      .prepare('SELECT h.hostname, c.recorded_at FROM task_changes c JOIN hosts h ON h.id = c.host_id ORDER BY h.hostname')
      .all();
    // The finish's arrival; without one, the run's last event's.
    expect(recorded).toEqual([
      { hostname: 'db-01', recorded_at: 200 },
      { hostname: 'web-01', recorded_at: 300 },
    ]);
    const plan = (sql: string) =>
      (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as Array<{ detail: string }>).map((p) => p.detail).join('; ');
    const fleetPlan = plan('SELECT run FROM task_changes ORDER BY recorded_at DESC, run DESC, seq DESC LIMIT 10');
    expect(fleetPlan).toMatch(/USING COVERING INDEX task_changes_recorded/);
    expect(fleetPlan).not.toMatch(/TEMP B-TREE/);
    const hostPlan = plan('SELECT run FROM task_changes WHERE host_id = 1 ORDER BY recorded_at DESC, run DESC, seq DESC LIMIT 10');
    expect(hostPlan).toMatch(/USING COVERING INDEX task_changes_host_recorded/);
    expect(hostPlan).not.toMatch(/TEMP B-TREE/);
    db.close();
  });

  it('007 keeps every event of a version-6 database; an event is still stored once per run, seq and id', () => {
    const db = databaseAt(6);
    const r = runEvents({ host: { hostname: 'web-01' } });
    writeOld(db, 1, 'web-01', r.runId, [r.started(), r.task('ok'), r.task('changed')] as RunEvent[], 5);
    const stored = db.prepare('SELECT event_id, seq, kind, data FROM events ORDER BY seq').all() as Array<{
      event_id: string;
      seq: number;
    }>;
    const rows = () => db.prepare('SELECT event_id, run, seq, kind, time, received_at, data FROM events ORDER BY run, seq, event_id').all();
    const before = rows();

    expect(migrate(db)).toContain(7);
    expect(rows()).toEqual(before);
    const plan = db
      .prepare(`EXPLAIN QUERY PLAN SELECT seq, data FROM events WHERE run = 1 AND kind = 'task_result' ORDER BY seq`)
      .all() as Array<{ detail: string }>;
    expect(plan.map((p) => p.detail).join('; ')).toMatch(/USING INDEX events_run_seq/);
    // A redelivery (repeated within its batch too) is a duplicate; another id at a stored seq is an event of its own.
    const store = createIngestStore(db);
    const again = (events: WebhookEvent[]) =>
      store.writeEvents(events.map((event) => ({ event, address: '10.0.0.1', receivedAt: 10 }))).outcomes;
    const redelivered = [r.started(), r.task('ok')].map((e, i) => ({ ...e, event_id: stored[i]!.event_id, seq: stored[i]!.seq }));
    expect(again([...redelivered, redelivered[1]!])).toEqual(['duplicate', 'duplicate', 'duplicate']);
    const otherId = { ...redelivered[1]!, event_id: randomUUID() };
    expect(again([otherId, otherId])).toEqual(['stored', 'duplicate']);
    expect(db.prepare('SELECT count(*) FROM events WHERE seq = ?').pluck().get(stored[1]!.seq)).toBe(2);
    db.close();
  });

  it('006 keeps every event of a version-5 database; a redelivery of one is still a duplicate', () => {
    const db = databaseAt(5);
    // Written as version 5 stored them: the event id the table's key.
    const r = runEvents({ host: { hostname: 'web-01' } });
    const events = [r.started(), r.task('ok'), r.task('changed')];
    writeOld(db, 7, 'web-01', r.runId, events as RunEvent[], 5);
    const rows = () => db.prepare('SELECT event_id, run, seq, kind, time, received_at, data FROM events ORDER BY run, seq').all();
    const before = rows();

    expect(migrate(db)).toContain(6);
    expect(rows()).toEqual(before);
    const plan = db
      .prepare(`EXPLAIN QUERY PLAN SELECT seq, data FROM events WHERE run = 7 AND kind = 'task_result' ORDER BY seq`)
      .all() as Array<{ detail: string }>;
    expect(plan.map((p) => p.detail).join('; ')).toMatch(/USING INDEX events_run_seq/);
    const again = createIngestStore(db).writeEvents(events.map((event) => ({ event, address: '10.0.0.1', receivedAt: 10 })));
    expect(again.outcomes).toEqual(['duplicate', 'duplicate', 'duplicate']);
    expect(rows()).toEqual(before);
    db.close();
  });
});
