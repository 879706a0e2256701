/** Messages between the checkpointer (src/db/checkpointer.ts) and its thread (checkpoint-worker.ts). */

export type CheckpointMode = 'PASSIVE' | 'RESTART' | 'TRUNCATE';

export interface CheckpointWorkerData {
  /** The database file (never :memory:: another connection cannot see it). */
  path: string;
  intervalMs: number;
  /** Frames in the log past which a tick follows its PASSIVE with a RESTART. */
  restartFrames: number;
}

/** One checkpoint the thread ran, as `PRAGMA wal_checkpoint` answered it. */
export interface CheckpointReport {
  mode: CheckpointMode;
  /** The checkpoint could not take a lock it needed (another checkpoint, the writer or a reader). */
  busy: boolean;
  /** Frames in the log, and how many of them are in the database file now; -1 when it could not run at all. */
  logFrames: number;
  checkpointedFrames: number;
  /**
   * Frames this checkpoint moved into the database file. A frame is one committed version of a
   * page; only the newest of each page is written to the file, so pages written are at most this.
   */
  frames: number;
  durationMs: number;
}

export type FromWorker = { type: 'ready' } | { type: 'checkpoint'; report: CheckpointReport };

export type ToWorker = { type: 'stop' };

/** A row of `PRAGMA wal_checkpoint`. */
export interface CheckpointRow {
  busy: number;
  log: number;
  checkpointed: number;
}

/**
 * The report of one checkpoint from its row, given the log's nBackfill after the last one that ran
 * (`backfilled`), and nBackfill to give the next. A checkpoint that could not run at all (another
 * connection held the checkpoint lock, or the WAL index was being rewritten) answers -1 for both
 * counts (sqlite3_wal_checkpoint_v2): it moved nothing and is reported busy, and the next one is
 * counted from the same place.
 */
export function checkpointReport(
  mode: CheckpointMode,
  row: CheckpointRow,
  backfilled: number,
  durationMs: number,
): { report: CheckpointReport; backfilled: number } {
  const ran = row.log >= 0 && row.checkpointed >= 0;
  if (!ran) {
    return { report: { mode, busy: true, logFrames: -1, checkpointedFrames: -1, frames: 0, durationMs }, backfilled };
  }
  // `checkpointed` counts from the start of the current log; smaller than last time means the log
  // was started over in between (by the writer, or by a TRUNCATE, which reports 0). A log started
  // over that has grown past the old count by the next tick is undercounted: the figure is for a
  // metric, not for correctness.
  const frames = row.checkpointed >= backfilled ? row.checkpointed - backfilled : row.checkpointed;
  return {
    report: { mode, busy: row.busy === 1, logFrames: row.log, checkpointedFrames: row.checkpointed, frames, durationMs },
    backfilled: row.checkpointed,
  };
}
