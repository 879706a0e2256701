/**
 * Staged changes (migrations/008): a finished run's classified tasks are written to task_changes
 * a little later than its run_finished, a few dozen runs at a time, so that a fleet finishing at
 * once does not write a page of task_changes' time index per changed task. Staged rows are durable;
 * anything that reads task_changes calls settle() first, so no reader ever misses one.
 */
import type { Db } from '../db/database.js';
import type { TaskChange } from '../protocol/status.js';
import { mapStorageErrors } from './storage-errors.js';

/** One changed task of a run, as task_changes stores it. */
export interface StagedChange {
  seq: number;
  time: number;
  key: string;
  change: TaskChange;
}

/** A commit moves staged runs once this many wait, or once the oldest has waited MOVE_AFTER_MS. */
export const MOVE_RUNS = 64;
export const MOVE_AFTER_MS = 1000;

export function createChangeStaging(db: Db) {
  const stageRun = db.prepare(
    'INSERT OR REPLACE INTO task_changes_staged (run, host_id, staged_at, changes) VALUES (@run, @host_id, @now, @changes)',
  );
  const unstage = db.prepare<[number]>('DELETE FROM task_changes_staged WHERE run = ?');
  const waiting = db.prepare<[], { runs: number; oldest: number | null }>(
    'SELECT count(*) AS runs, min(staged_at) AS oldest FROM task_changes_staged',
  );
  const any = db.prepare<[], { 1: number }>('SELECT 1 FROM task_changes_staged LIMIT 1');
  // Oldest first; each run's rows in time order, as the time index holds them.
  const oldest = 'SELECT run FROM task_changes_staged ORDER BY staged_at, run LIMIT @limit';
  const move = db.prepare(
    `INSERT INTO task_changes (run, seq, host_id, time, task_key, change)
     SELECT s.run, c.value ->> 0, s.host_id, c.value ->> 1, c.value ->> 2, c.value ->> 3
     FROM task_changes_staged s, json_each(s.changes) c WHERE s.run IN (${oldest})
     ORDER BY c.value ->> 1 DESC, s.run DESC, c.value ->> 0 DESC
     ON CONFLICT (run, seq) DO NOTHING`,
  );
  const moved = db.prepare(`DELETE FROM task_changes_staged WHERE run IN (${oldest})`);

  const moveOldest = (limit: number) => {
    move.run({ limit });
    moved.run({ limit });
  };
  const settleAll = db.transaction(() => moveOldest(-1));

  return {
    /** Stages a run's changes in the write's transaction, replacing what it had staged. */
    stage(run: number, hostId: number, changes: StagedChange[], now: number): void {
      if (changes.length === 0) return;
      stageRun.run({
        run,
        host_id: hostId,
        now,
        changes: JSON.stringify(changes.map((c) => [c.seq, c.time, c.key, c.change])),
      });
    },
    /** Forgets whatever a run has staged (a resent run_finished classifies it afresh). */
    forget(run: number): void {
      unstage.run(run);
    },
    /** In a write's transaction: moves the oldest staged runs when enough wait or they waited long enough. */
    moveDue(now: number): void {
      const w = waiting.get()!;
      if (w.runs >= MOVE_RUNS || (w.oldest !== null && w.oldest <= now - MOVE_AFTER_MS)) moveOldest(MOVE_RUNS);
    },
    /** Before reading task_changes: moves everything staged, in its own transaction. */
    settle(): void {
      if (any.get() !== undefined) mapStorageErrors(() => settleAll.immediate());
    },
  };
}

export type ChangeStaging = ReturnType<typeof createChangeStaging>;
