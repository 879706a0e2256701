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
  /** Frames in the log, and how many of them are in the database file now. */
  logFrames: number;
  checkpointedFrames: number;
  /** Pages this checkpoint copied into the database file. */
  pagesCopied: number;
  durationMs: number;
}

export type FromWorker = { type: 'ready' } | { type: 'checkpoint'; report: CheckpointReport };

export type ToWorker = { type: 'stop' };
