/** Outcomes and drift classification, on a real in-memory database, through the ingest store. */
import { afterEach, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/database.js';
import type { TaskStatus } from '../../src/protocol/events.js';
import { runEvents } from '../helper.js';
import { memoryDb, writer } from './memory-db.js';

let db: Db;
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
});
