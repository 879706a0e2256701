/**
 * The checkpointer's thread (started by src/db/checkpointer.ts): its own connection to the
 * service's database copies the WAL back into the database file, so that the copying and its two
 * fsyncs never run on the event loop inside a commit, as SQLite's automatic checkpoint would.
 *
 * Tests run the sources, and a worker thread cannot load TypeScript, so test/global-setup.ts
 * bundles this file with the one module it takes values from (checkpoint-protocol.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import {
  checkpointReport,
  type CheckpointMode,
  type CheckpointReport,
  type CheckpointRow,
  type CheckpointWorkerData,
  type FromWorker,
  type ToWorker,
} from './checkpoint-protocol.js';

const { path, intervalMs, restartFrames } = workerData as CheckpointWorkerData;
const port = parentPort!;

// timeout 0: RESTART and TRUNCATE take the writer's lock and then wait for readers; waiting while
// holding it would stall the service's commits, so when the lock or the readers are busy they give
// up at once (SQLite then does what PASSIVE would) and the next tick tries again.
const db = new Database(path, { fileMustExist: true, timeout: 0 });
// The checkpoint's fsyncs (the WAL before copying, the database file after) come from this
// connection's setting: OFF would skip them and let a restarted WAL overwrite frames that are
// not yet safe in the database file. NORMAL and FULL checkpoint alike; this connection never commits.
db.pragma('synchronous = NORMAL');
if (db.pragma('journal_mode', { simple: true }) !== 'wal') throw new Error(`${path} is not in WAL mode`);

/** nBackfill of the last checkpoint that ran, to tell how many frames the next one checkpointed. */
let backfilled = 0;

function checkpoint(mode: CheckpointMode): CheckpointReport {
  const started = performance.now();
  const row = (db.pragma(`wal_checkpoint(${mode})`) as CheckpointRow[])[0]!;
  const next = checkpointReport(mode, row, backfilled, performance.now() - started);
  backfilled = next.backfilled;
  return next.report;
}

const send = (message: FromWorker) => port.postMessage(message);
const report = (r: CheckpointReport) => {
  if (r.frames > 0 || r.mode !== 'PASSIVE') send({ type: 'checkpoint', report: r });
};

/** Frames in the log at the last tick: unchanged and all copied means the writer is idle. */
let lastLog = -1;

/** PASSIVE checkpoints in a row at most, each copying what was committed during the last. */
const CATCH_UP_PASSES = 4;

function tick(): void {
  let passive = checkpoint('PASSIVE');
  report(passive);
  // While commits keep coming, one lands during most checkpoints, so the log is rarely all copied
  // when the writer looks; only then does the writer start it over from the start of the file,
  // and otherwise the WAL grows. Each further pass has only the last one's commits to copy, so
  // it is shorter, and soon one copies everything: the writer restarts the log, never blocked.
  for (let pass = 1; pass < CATCH_UP_PASSES && !passive.busy && passive.logFrames > passive.checkpointedFrames; pass++) {
    passive = checkpoint('PASSIVE');
    report(passive);
  }
  const caughtUp = !passive.busy && passive.logFrames === passive.checkpointedFrames;
  if (!passive.busy && passive.logFrames >= restartFrames) {
    // The log grew past the limit all the same (the writer did not get to restart it, or a
    // reader held it): RESTART makes the next commit write from the start of the file. It holds
    // the writer back meanwhile, but only for what was committed since the last pass.
    report(checkpoint('RESTART'));
  } else if (caughtUp && passive.logFrames > 0 && passive.logFrames === lastLog) {
    // Idle since the last tick: give the file's space back (nothing is left to copy, so this
    // holds the writer's lock only to reset the log).
    report(checkpoint('TRUNCATE'));
  }
  lastLog = passive.logFrames;
}

// Why a period and not a size: a checkpoint's cost is its two fsyncs far more than the pages it
// copies, so fewer, larger checkpoints cost less in total; one a second keeps the WAL at a second
// of writes (a few MB at a fleet rebuild's rate). The WAL file's size is no signal to watch
// either: it does not shrink when the log starts over. An idle tick reads the WAL index in shared
// memory and does no I/O.
const timer = setInterval(tick, intervalMs);

port.on('message', (message: ToWorker) => {
  if (message.type !== 'stop') return;
  clearInterval(timer);
  // The service has stopped writing: copy what is left and empty the WAL, so a clean stop leaves
  // nothing to recover at the next start. PASSIVE first only so the frames it copies are counted
  // (a TRUNCATE that succeeds reports an empty log).
  report(checkpoint('PASSIVE'));
  report(checkpoint('TRUNCATE'));
  db.close();
  port.close();
});

send({ type: 'ready' });
