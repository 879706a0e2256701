/** Outcomes and drift classification, on a real in-memory database, through the ingest store. */
import { afterEach, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/database.js';
import type { TaskStatus, WebhookEvent } from '../../src/protocol/events.js';
import { runEvents } from '../helper.js';
import { memoryDb, writer } from './memory-db.js';

let db: Db;
type Write = ReturnType<typeof writer>['write'];
afterEach(() => db?.close());

const HOUR = 3_600_000;
const T0 = Date.parse('2026-06-01T00:00:00Z');

/** One whole run of tasks (name → status) on `commit`, started `n` hours after T0. */
function run(
  write: ReturnType<typeof writer>['write'],
  n: number,
  commit: string,
  tasks: Array<[string, TaskStatus]>,
  opts: { check?: boolean; failed?: boolean } = {},
) {
  const r = runEvents({ start: T0 + n * HOUR });
  const result = write(
    [r.started({ commit, check_mode: opts.check ?? false }), ...tasks.map(([name, s]) => r.task(s, name)), r.finished(opts.failed ? 1 : 0)],
    T0 + n * HOUR + 1000,
  );
  const changes = db
    .prepare(`SELECT json_extract(e.data, '$.task') AS task, c.change FROM task_changes c JOIN events e ON e.run = c.run AND e.seq = c.seq
              WHERE c.run = (SELECT id FROM runs WHERE run_id = ?) ORDER BY c.seq`)
    .all(r.runId) as Array<{ task: string; change: string }>;
  const row = db
    .prepare('SELECT outcome, drift_intentional, drift_corrective, drift_repeated, drift_other FROM runs WHERE run_id = ?')
    .get(r.runId) as Record<string, unknown>;
  return { runId: r.runId, result, changes: Object.fromEntries(changes.map((c) => [c.task, c.change])), row };
}

describe('drift classification', () => {
  it('tells intentional, corrective, repeated and other changes apart, and sets outcomes', () => {
    db = memoryDb();
    const { write } = writer(db);
    const a = 'aaaaaaa1';
    const r1 = run(write, 0, a, [
      ['file', 'changed'],
      ['cmd', 'changed'],
      ['svc', 'ok'],
    ]);
    expect(r1.changes).toEqual({ file: 'intentional', cmd: 'intentional' });
    expect(r1.row).toMatchObject({ outcome: 'changed', drift_intentional: 2 });

    const r2 = run(write, 1, a, [
      ['file', 'ok'],
      ['cmd', 'changed'],
      ['svc', 'ok'],
    ]);
    // cmd changed in the previous run too: not corrective, not three in a row yet.
    expect(r2.changes).toEqual({ cmd: 'other' });

    const r3 = run(write, 2, a, [
      ['file', 'changed'],
      ['cmd', 'changed'],
      ['svc', 'ok'],
    ]);
    expect(r3.changes).toEqual({ file: 'corrective', cmd: 'repeated' });
    expect(r3.row).toMatchObject({ outcome: 'changed', drift_corrective: 1, drift_repeated: 1, drift_intentional: 0 });
    expect(r3.result.drift).toEqual([
      expect.objectContaining({ hostname: 'web-01', added: { intentional: 0, corrective: 1, repeated: 1, other: 0 } }),
    ]);

    const r4 = run(write, 3, a, [
      ['file', 'ok'],
      ['cmd', 'ok'],
      ['svc', 'ok'],
    ]);
    expect(r4.row).toMatchObject({ outcome: 'unchanged', drift_corrective: 0 });

    // Check mode: pending, and it is no baseline for the next run.
    const r5 = run(
      write,
      4,
      a,
      [
        ['file', 'changed'],
        ['cmd', 'ok'],
        ['svc', 'ok'],
      ],
      { check: true },
    );
    expect(r5.row).toMatchObject({ outcome: 'pending', drift_corrective: 1 });
    const r6 = run(write, 5, 'bbbbbbb2', [
      ['file', 'changed'],
      ['cmd', 'ok'],
      ['svc', 'changed'],
    ]);
    expect(r6.changes).toEqual({ file: 'intentional', svc: 'intentional' });

    const host = db.prepare('SELECT drift_intentional, drift_corrective, drift_repeated, drift_other, last_corrective_at FROM hosts').get();
    expect(host).toEqual({
      drift_intentional: 4,
      drift_corrective: 2,
      drift_repeated: 1,
      drift_other: 1,
      last_corrective_at: T0 + 4 * HOUR + 100,
    });
  });

  it('compares against the previous successful run, and keys same-named tasks by occurrence', () => {
    db = memoryDb();
    const { write } = writer(db);
    const a = 'aaaaaaa1';
    run(write, 0, a, [
      ['restart', 'ok'],
      ['restart', 'ok'],
    ]);
    run(
      write,
      1,
      a,
      [
        ['restart', 'changed'],
        ['restart', 'failed'],
      ],
      { failed: true },
    );
    // The failed run is no baseline: the second "restart" was ok in the last successful run.
    const r3 = run(write, 2, a, [
      ['restart', 'ok'],
      ['restart', 'changed'],
    ]);
    expect(r3.changes).toEqual({ restart: 'corrective' });
    expect(db.prepare('SELECT task_key FROM task_changes WHERE run = (SELECT id FROM runs WHERE run_id = ?)').get(r3.runId)).toEqual({
      task_key: '["Configure","restart",2]',
    });
  });

  it('classifies a run whose finish arrives in a later write, with all its tasks', () => {
    db = memoryDb();
    const { write } = writer(db);
    run(write, 0, 'aaaaaaa1', [['file', 'ok']]);
    const r = runEvents({ start: T0 + HOUR });
    write([r.started({ commit: 'aaaaaaa1' }), r.task('changed', 'file')]);
    expect(db.prepare('SELECT outcome FROM runs WHERE run_id = ?').get(r.runId)).toEqual({ outcome: null });
    write([r.finished()]);
    expect(db.prepare('SELECT outcome, drift_corrective FROM runs WHERE run_id = ?').get(r.runId)).toEqual({
      outcome: 'changed',
      drift_corrective: 1,
    });
  });

  it('classifies a run finished twice afresh: its changes and its host counted once', () => {
    db = memoryDb();
    const { write } = writer(db);
    run(write, 0, 'aaaaaaa1', [['file', 'ok']]);
    const r = runEvents({ start: T0 + HOUR });
    const tasks = Array.from({ length: 20 }, (_, i) => r.task(i === 3 ? 'ok' : 'changed', `t${i}`));
    write([r.started({ commit: 'aaaaaaa1' }), r.task('changed', 'file'), ...tasks, r.finished()]);
    // The same run's finish again, as a new event (another id and seq): nothing is counted twice.
    write([r.finished()]);
    const changes = db.prepare('SELECT change, count(*) AS n FROM task_changes GROUP BY change ORDER BY change').all();
    expect(changes).toEqual([
      { change: 'corrective', n: 1 },
      { change: 'other', n: 19 },
    ]);
    const counts = 'outcome, drift_intentional, drift_corrective, drift_repeated, drift_other';
    const row = { drift_intentional: 0, drift_corrective: 1, drift_repeated: 0, drift_other: 19 };
    expect(db.prepare(`SELECT ${counts} FROM runs WHERE run_id = ?`).get(r.runId)).toEqual({ outcome: 'changed', ...row });
    expect(db.prepare('SELECT drift_intentional, drift_corrective, drift_repeated, drift_other FROM hosts').get()).toEqual(row);
  });
});

describe('classification of live runs from memory', () => {
  const tasks: Array<[string, TaskStatus]> = [
    ['file', 'changed'],
    ['cmd', 'changed'],
    ['file', 'changed'],
    ['svc', 'ok'],
  ];
  const changesOf = (runId: string) =>
    db
      .prepare(`SELECT seq, time, task_key, change FROM task_changes WHERE run = (SELECT id FROM runs WHERE run_id = ?) ORDER BY seq`)
      .all(runId);

  /** A host's second run of `tasks` on commit `a`, delivered by `deliver`; the first run is a baseline. */
  function secondRun(deliver: (events: WebhookEvent[], stores: { first: Write; restarted: () => Write }) => void) {
    db = memoryDb();
    const first = writer(db).write;
    run(first, 0, 'a', tasks);
    const r = runEvents({ start: T0 + HOUR });
    deliver([r.started({ commit: 'a' }), ...tasks.map(([n, s]) => r.task(s, n)), r.finished()], {
      first,
      restarted: () => writer(db).write,
    });
    return changesOf(r.runId);
  }

  it('gives the same answer from memory as from the events, after a restart or out of order', () => {
    const at = T0 + HOUR + 1000;
    // Held in memory: every result stored by this store, in order, over several writes.
    const held = secondRun((events, { first }) => {
      for (const e of events) first([e], at);
    });
    // Read from SQL: the run began before a restart (a new store on the same database)...
    const restarted = secondRun((events, { first, restarted }) => {
      first(events.slice(0, 3), at);
      restarted()(events.slice(3), at);
    });
    // ...or two of its results arrived out of order.
    const shuffled = secondRun((events, { first }) => {
      [events[1], events[2]] = [events[2]!, events[1]!];
      for (const e of events) first([e], at);
    });
    // The baseline changed these tasks too, so with the same commit they are neither corrective nor repeated yet.
    expect(held).toMatchObject([
      { seq: 1, change: 'other', task_key: JSON.stringify(['Configure', 'file', 1]) },
      { seq: 2, change: 'other', task_key: JSON.stringify(['Configure', 'cmd', 1]) },
      { seq: 3, change: 'other', task_key: JSON.stringify(['Configure', 'file', 2]) },
    ]);
    expect(held.map((c) => (c as { time: number }).time)).toEqual([1, 2, 3].map((seq) => T0 + HOUR + seq * 100));
    expect(restarted).toEqual(held);
    expect(shuffled).toEqual(held);
  });

  it('reads a held run from memory: its stored events are not read back', () => {
    db = memoryDb();
    const { write } = writer(db);
    const r = runEvents({ start: T0 });
    write([r.started({ commit: 'a' }), r.task('changed', 'file')], T0);
    // Only the memory still says `changed` now.
    db.prepare(`UPDATE events SET data = json_set(data, '$.status', 'ok') WHERE kind = 'task_result'`).run();
    write([r.finished()], T0);
    expect(changesOf(r.runId)).toMatchObject([{ seq: 1, change: 'intentional' }]);
  });

  it('forgets what a rolled-back write added', () => {
    db = memoryDb();
    const { write } = writer(db);
    const mine = runEvents({ start: T0 });
    const theirs = runEvents({ start: T0, host: { hostname: 'web-02', machine_id: 'b'.repeat(32) } });
    write([mine.started({ commit: 'a' }), mine.task('changed', 'one')], T0);
    write([theirs.started({ commit: 'a' })], T0);
    // web-01 claims a run of web-02's in the same write: the whole write is refused.
    const claim = { ...theirs.task('ok'), host: mine.started().host };
    expect(() => write([mine.task('changed', 'two'), claim], T0)).toThrow(/belongs to another host/);
    write([mine.finished()], T0);
    expect(changesOf(mine.runId)).toMatchObject([{ seq: 1, change: 'intentional' }]);
    expect(db.prepare('SELECT drift_intentional FROM runs WHERE run_id = ?').get(mine.runId)).toEqual({ drift_intentional: 1 });
  });
});
