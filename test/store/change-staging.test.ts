/**
 * Staged changes: a finishing run's classified tasks wait in task_changes_staged and reach
 * task_changes with a later commit (enough runs waiting, or the oldest a second old), before any
 * read of them, and after a restart; nothing is lost or stored twice on the way.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrate.js';
import type { WebhookEvent } from '../../src/protocol/events.js';
import { MOVE_AFTER_MS, MOVE_RUNS } from '../../src/store/change-staging.js';
import { createHistoryStore } from '../../src/store/history-store.js';
import { createQueryStore } from '../../src/store/query-store.js';
import { statusParams } from '../../src/store/status-sql.js';
import { host, runEvents, tempDir } from '../helper.js';
import { incoming } from './memory-db.js';
import { createIngestStore } from '../../src/store/ingest-store.js';

const T0 = Date.parse('2026-06-01T00:00:00Z');
let db: Db | undefined;
afterEach(() => db?.close());

function open(path: string): Db {
  const d = openDatabase(path);
  migrate(d);
  return d;
}

const count = (d: Db, table: string) => d.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number;

/** A whole first run of `name`: two changed tasks and one ok, finished. */
function wholeRun(name: string, start = T0): WebhookEvent[] {
  const r = runEvents({ start, host: host({ hostname: name, machine_id: undefined }) });
  return [r.started({ commit: 'a' }), r.task('changed', 'file'), r.task('ok', 'svc'), r.task('changed', 'cmd'), r.finished()];
}

const everyChange = (d: Db) => createHistoryStore(d).changes({ limit: 500 }, null).changes;

describe('staged changes', () => {
  it('stages a finished run, moves it with a write a second later, and a read never misses it', () => {
    db = open(join(tempDir(), 'staging.db'));
    const ingest = createIngestStore(db);
    ingest.writeEvents(incoming(wholeRun('web-01'), T0));
    expect([count(db, 'task_changes'), count(db, 'task_changes_staged')]).toEqual([0, 1]);
    // A write within the second leaves it staged; one a second later moves it.
    ingest.writeEvents(incoming(wholeRun('web-02'), T0 + MOVE_AFTER_MS - 1));
    expect([count(db, 'task_changes'), count(db, 'task_changes_staged')]).toEqual([0, 2]);
    // The oldest is due: that commit moves every staged run, up to MOVE_RUNS.
    const web03 = wholeRun('web-03', T0 + 1);
    ingest.writeEvents(incoming(web03.slice(0, 2), T0 + MOVE_AFTER_MS));
    expect([count(db, 'task_changes'), count(db, 'task_changes_staged')]).toEqual([4, 0]);
    ingest.writeEvents(incoming(web03.slice(2), T0 + MOVE_AFTER_MS + 1));
    expect([count(db, 'task_changes'), count(db, 'task_changes_staged')]).toEqual([4, 1]);
    // Reads settle whatever is staged first: a run's own tasks, and the fleet's changes.
    const params = () => statusParams({ now: T0, staleAfterMs: 3_600_000, expectGraceMs: 600_000, outOfSyncGraceMs: 600_000 });
    const tasks = createQueryStore(db, params).run(web03[0]!.run_id)!.task_results;
    expect(tasks.map((t) => t.change)).toEqual(['intentional', null, 'intentional']);
    expect([count(db, 'task_changes'), count(db, 'task_changes_staged')]).toEqual([6, 0]);
    expect(everyChange(db).map((c) => [c.hostname, c.task, c.change])).toEqual([
      ['web-03', 'cmd', 'intentional'],
      ['web-02', 'cmd', 'intentional'],
      ['web-01', 'cmd', 'intentional'],
      ['web-03', 'file', 'intentional'],
      ['web-02', 'file', 'intentional'],
      ['web-01', 'file', 'intentional'],
    ]);
    ingest.writeEvents(incoming(wholeRun('web-04'), T0 + MOVE_AFTER_MS + 2));
    expect(everyChange(db)).toHaveLength(8);
  });

  it(`moves the oldest ${MOVE_RUNS} runs once that many wait, in the same commit`, () => {
    db = open(join(tempDir(), 'staging.db'));
    const ingest = createIngestStore(db);
    const runs = Array.from({ length: MOVE_RUNS + 5 }, (_, i) => wholeRun(`vm-${i}`));
    for (const [i, events] of runs.entries()) ingest.writeEvents(incoming(events, T0 + i, `10.0.0.${i + 1}`));
    // The 64th run staged made 64 waiting: that commit moved them; 5 wait.
    expect([count(db, 'task_changes'), count(db, 'task_changes_staged')]).toEqual([MOVE_RUNS * 2, 5]);
    expect(db.prepare('SELECT min(run) FROM task_changes_staged').pluck().get()).toBe(MOVE_RUNS + 1);
    expect(everyChange(db)).toHaveLength((MOVE_RUNS + 5) * 2);
  });

  it('keeps staged changes through a restart, and a resent run_finished stores them once', () => {
    const path = join(tempDir(), 'staging.db');
    db = open(path);
    const events = wholeRun('web-01');
    createIngestStore(db).writeEvents(incoming(events, T0));
    db.close();
    // After a restart, on the same file: still staged, and read as before.
    db = open(path);
    expect(count(db, 'task_changes_staged')).toBe(1);
    const resent = { ...events.at(-1)!, event_id: crypto.randomUUID() };
    // The finish again, as a new event: the run is classified afresh, staged once more, not twice.
    createIngestStore(db).writeEvents(incoming([resent], T0 + 10));
    expect(count(db, 'task_changes_staged')).toBe(1);
    expect(everyChange(db).map((c) => c.task)).toEqual(['cmd', 'file']);
    // And once more after it was moved: task_changes keeps one row a task.
    createIngestStore(db).writeEvents(incoming([{ ...resent, event_id: crypto.randomUUID() }], T0 + 20));
    expect(everyChange(db).map((c) => c.task)).toEqual(['cmd', 'file']);
    expect(db.prepare('SELECT drift_intentional FROM hosts').pluck().get()).toBe(2);
  });

  it('goes with its run when the run is deleted', () => {
    db = open(join(tempDir(), 'staging.db'));
    createIngestStore(db).writeEvents(incoming(wholeRun('web-01'), T0));
    db.prepare('DELETE FROM runs').run();
    expect(count(db, 'task_changes_staged')).toBe(0);
  });
});
