/**
 * WAL checkpoints off the event loop. SQLite's automatic checkpoint runs inside the commit that
 * crosses its threshold (1000 pages): the copy into the database file and its two fsyncs would
 * stall every request on the event loop meanwhile. The checkpointer turns it off on the service's
 * connection and runs checkpoints from a worker thread with a connection of its own
 * (src/db/checkpoint-worker.ts). PASSIVE checkpoints never block the writer.
 *
 * Started by src/server.ts only: tests that build many apps get no thread each, and keep SQLite's
 * automatic checkpoint.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../logger.js';
import type { CheckpointReport, CheckpointWorkerData, FromWorker, ToWorker } from './checkpoint-protocol.js';
import type { Db } from './database.js';

// Next to this module in dist/src/db (the built service); from src/db (tests run the sources),
// where test/global-setup.ts compiles it.
const WORKER_SCRIPT = ['./checkpoint-worker.js', '../../dist/src/db/checkpoint-worker.js']
  .map((rel) => fileURLToPath(new URL(rel, import.meta.url)))
  .find((file) => existsSync(file));

export interface CheckpointerOptions {
  logger: Logger;
  /** Between two checkpoints (default 1 s; checkpoint-worker.ts says why a period). */
  intervalMs?: number;
  /**
   * Frames in the log past which a checkpoint is followed by a RESTART, which bounds the WAL
   * under sustained writes (default 4096: 16 MiB of 4 KiB pages, four times SQLite's own threshold,
   * since each RESTART holds commits back for a moment).
   */
  restartFrames?: number;
  /** First wait before a thread that died is started again; doubles on each failure, up to a minute. */
  restartDelayMs?: number;
}

/** What the metrics see of the checkpointer. */
export interface CheckpointObserver {
  checkpointed: (report: CheckpointReport) => void;
  workerFailed: () => void;
}

export interface Checkpointer {
  observe: (observer: CheckpointObserver) => void;
  /**
   * Ends the thread after a last checkpoint that empties the WAL. Call it after the last write
   * and before closing the database: a clean stop leaves an empty WAL.
   */
  stop: () => Promise<void>;
  /** The thread running now, if one is (tests terminate it to see the recovery). */
  readonly worker: Worker | undefined;
}

const MAX_RESTART_DELAY_MS = 60_000;

/** Starts the checkpoint thread for the database file at `path`, which `db` has open in WAL mode. */
export function startCheckpointer(db: Db, path: string, options: CheckpointerOptions): Checkpointer {
  if (WORKER_SCRIPT === undefined) throw new Error('the WAL checkpointer is not built: run npm run build');
  const script = WORKER_SCRIPT;
  const { logger } = options;
  const restartDelayMs = options.restartDelayMs ?? 1000;
  const workerData: CheckpointWorkerData = {
    path,
    intervalMs: options.intervalMs ?? 1000,
    restartFrames: options.restartFrames ?? 4096,
  };
  // SQLite's own threshold, put back whenever no thread is checkpointing so the WAL stays bounded.
  const automatic = db.pragma('wal_autocheckpoint', { simple: true }) as number;
  const observers: CheckpointObserver[] = [];
  let worker: Worker | undefined;
  let failures = 0;
  let retry: NodeJS.Timeout | undefined;
  let stopping = false;

  function spawn(): void {
    retry = undefined;
    const w = new Worker(script, { workerData });
    // The HTTP server decides how long the process lives; this thread never keeps it alive.
    w.unref();
    worker = w;
    w.on('message', (message: FromWorker) => {
      if (message.type === 'ready') {
        // Only now: until the thread has its connection, SQLite's own checkpoint stays on.
        if (!stopping) db.pragma('wal_autocheckpoint = 0');
        return;
      }
      failures = 0;
      // An observer is the metrics: a failure there is logged, and must not end the process.
      for (const o of observers) {
        try {
          o.checkpointed(message.report);
        } catch (err) {
          logger.error({ err }, 'a checkpoint observer failed');
        }
      }
    });
    w.on('error', (err) => logger.error({ err }, 'WAL checkpointer failed'));
    w.on('exit', (code) => {
      worker = undefined;
      if (!stopping) died(code);
    });
  }

  function died(code: number): void {
    // The main connection checkpoints by itself again (on the event loop, as before) until a
    // thread is back, so a thread that cannot run costs latency, never an unbounded WAL.
    db.pragma(`wal_autocheckpoint = ${automatic}`);
    for (const o of observers) o.workerFailed();
    const delayMs = Math.min(MAX_RESTART_DELAY_MS, restartDelayMs * 2 ** failures);
    failures += 1;
    logger.error({ code, retryInMs: delayMs }, 'WAL checkpointer thread exited; SQLite checkpoints on the main thread until it is back');
    retry = setTimeout(spawn, delayMs);
    retry.unref();
  }

  spawn();
  return {
    observe: (observer) => {
      observers.push(observer);
    },
    stop: async () => {
      stopping = true;
      if (retry) clearTimeout(retry);
      // Anything written after this is checkpointed by SQLite, as without a thread.
      db.pragma(`wal_autocheckpoint = ${automatic}`);
      const w = worker;
      // No thread: closing the database (its last connection) checkpoints and removes the WAL.
      if (w === undefined) return;
      const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
      // Held from here: once the HTTP server is closed, this thread may be all that is left to
      // wait for, and an unreferenced one would let the process end before its last checkpoint.
      w.ref();
      w.postMessage({ type: 'stop' } satisfies ToWorker);
      await exited;
    },
    get worker() {
      return worker;
    },
  };
}
