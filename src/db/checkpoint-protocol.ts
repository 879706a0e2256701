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
  /**
   * Frames this checkpoint moved into the database file. A frame is one committed version of a
   * page; only the newest of each page is written to the file, so pages written are at most this.
   */
  frames: number;
  durationMs: number;
}

export type FromWorker = { type: 'ready' } | { type: 'checkpoint'; report: CheckpointReport };

export type ToWorker = { type: 'stop' };
