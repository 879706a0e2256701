/**
 * The WAL checkpointer thread on a real database file: it copies the WAL into the database file
 * while the service's connection never checkpoints, keeps the WAL bounded, empties it on a clean
 * stop, and a thread that dies is logged, counted and replaced.
 */
import { existsSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../../src/app.js';
import { testConfig } from '../../src/config.js';
import { checkpointReport, type CheckpointReport, type CheckpointRow } from '../../src/db/checkpoint-protocol.js';
import { startCheckpointer, type Checkpointer, type CheckpointerOptions } from '../../src/db/checkpointer.js';
import { openDatabase, type Db } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrate.js';
import { createLogger } from '../../src/logger.js';
import { eventually } from '../eventually.js';
import { post, runEvents, tempDir } from '../helper.js';

interface Fixture {
  app: App;
  db: Db;
  dbPath: string;
  checkpointer: Checkpointer;
  reports: CheckpointReport[];
  logs: Array<Record<string, unknown>>;
  /** Set once the test has closed things itself. */
  closed: boolean;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function start(options: Partial<CheckpointerOptions> = {}): Promise<Fixture> {
  const dir = tempDir();
  const dbPath = join(dir, 'webhook.db');
  const db = openDatabase(dbPath);
  migrate(db);
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  const logger = createLogger('info', sink);
  const checkpointer = startCheckpointer(db, dbPath, { logger, intervalMs: 10, restartDelayMs: 10, ...options });
  const reports: CheckpointReport[] = [];
  checkpointer.observe({ checkpointed: (r) => reports.push(r), workerFailed: () => undefined });
  const app = await buildApp(testConfig({ dbPath, rateLimitPerMinute: 0 }), { db, logger, checkpointer });
  await app.ready();
  const fixture: Fixture = { app, db, dbPath, checkpointer, reports, logs, closed: false };
  cleanups.push(async () => {
    if (!fixture.closed) await stop(fixture);
    rmSync(dir, { recursive: true, force: true });
  });
  return fixture;
}

/** As server.ts stops: the app, then the checkpointer, then the database. */
async function stop(f: Fixture): Promise<void> {
  f.closed = true;
  await f.app.close();
  await f.checkpointer.stop();
  f.db.close();
}

const autocheckpoint = (db: Db) => db.pragma('wal_autocheckpoint', { simple: true });
const size = (file: string) => (existsSync(file) ? statSync(file).size : 0);
const framesCheckpointed = (reports: CheckpointReport[]) => reports.reduce((n, r) => n + r.frames, 0);

/** Writes `posts` deliveries of 25 task results with a 2 KB message each; returns the event ids. */
async function write(app: App, posts: number, concurrency = 4): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < posts; i += concurrency) {
    await Promise.all(
      Array.from({ length: Math.min(concurrency, posts - i) }, async () => {
        const run = runEvents();
        const events = [
          run.started(),
          ...Array.from({ length: 23 }, () => run.task('changed', undefined, 'x'.repeat(2000))),
          run.finished(),
        ];
        const res = await post(app, { events });
        expect(res.statusCode).toBe(200);
        ids.push(...events.map((e) => e.event_id));
      }),
    );
  }
  return ids;
}

async function metric(app: App, name: string): Promise<number> {
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? Number.NaN : Number(line.split(' ')[1]);
}

describe('WAL checkpointer thread', () => {
  it('copies the WAL into the database file while the service connection never checkpoints', async () => {
    const f = await start();
    // Off on the service's connection once the thread has its own.
    await eventually(() => expect(autocheckpoint(f.db)).toBe(0));
    const before = size(f.dbPath);
    await write(f.app, 10);
    await eventually(() => {
      expect(framesCheckpointed(f.reports)).toBeGreaterThan(100);
      expect(size(f.dbPath)).toBeGreaterThan(before + 50 * 4096);
    });
    // Fewer frames than SQLite's own threshold of 1000 were written (all of them get copied), so
    // even with its automatic checkpoint on, the service's connection would not have grown the file.
    expect(framesCheckpointed(f.reports)).toBeLessThan(1000);
    expect(autocheckpoint(f.db)).toBe(0);
    expect(await metric(f.app, 'webhook_wal_checkpointed_frames_total')).toBeGreaterThan(100);
    expect(await metric(f.app, 'webhook_wal_checkpoints_total{mode="passive"}')).toBeGreaterThan(0);
    expect(await metric(f.app, 'webhook_wal_checkpoint_duration_seconds_count')).toBeGreaterThan(0);
    expect(await metric(f.app, 'webhook_wal_size_bytes')).toBeGreaterThanOrEqual(0);
  });

  it('keeps the WAL bounded under sustained writes', async () => {
    const f = await start({ restartFrames: 256 });
    await eventually(() => expect(autocheckpoint(f.db)).toBe(0));
    let maxWal = 0;
    const writeOn = async () => {
      await write(f.app, 4);
      maxWal = Math.max(maxWal, size(`${f.dbPath}-wal`));
    };
    for (let round = 0; round < 30; round++) {
      const seen = f.reports.length;
      for (let i = 0; i < 5; i++) await writeOn();
      // Writes never pause, but go on until the thread has checkpointed again: on a busy machine
      // it may get no CPU for a while.
      while (f.reports.length === seen) await writeOn();
    }
    // The WAL file was written over again and again, not grown to hold everything.
    expect(framesCheckpointed(f.reports) * 4096).toBeGreaterThan(5 * maxWal);
  });

  it('empties the WAL on a clean stop, and all that was written reads back after reopening', async () => {
    const f = await start();
    await eventually(() => expect(autocheckpoint(f.db)).toBe(0));
    const ids = await write(f.app, 40);
    f.closed = true;
    await f.app.close();
    await f.checkpointer.stop();
    // The thread's last checkpoint, with the service's connection still open.
    expect(size(`${f.dbPath}-wal`)).toBe(0);
    expect(f.reports.at(-1)).toMatchObject({ mode: 'TRUNCATE', busy: false, logFrames: 0 });
    f.db.close();
    const reopened = new Database(f.dbPath, { readonly: true });
    const stored = new Set(reopened.prepare('SELECT event_id FROM events').pluck().all() as string[]);
    expect(reopened.pragma('integrity_check', { simple: true })).toBe('ok');
    reopened.close();
    expect(ids.filter((id) => !stored.has(id))).toEqual([]);
    expect(stored.size).toBe(ids.length);
  });

  it('falls back to SQLite checkpointing on the main connection when the thread dies', async () => {
    const f = await start({ restartDelayMs: 60_000 });
    await eventually(() => expect(autocheckpoint(f.db)).toBe(0));
    await f.checkpointer.worker!.terminate();
    await eventually(() => expect(autocheckpoint(f.db)).toBe(1000));
    expect(f.checkpointer.worker).toBeUndefined();
    expect(await metric(f.app, 'webhook_wal_checkpointer_failures_total')).toBe(1);
    expect(f.logs.find((l) => l.level === 50)).toMatchObject({
      retryInMs: 60_000,
      msg: expect.stringContaining('SQLite checkpoints on the main thread'),
    });
    // Without a thread, the database's close (its last connection) still empties the WAL.
    await stop(f);
    expect(size(`${f.dbPath}-wal`)).toBe(0);
  });

  it('starts a thread again after one died, which takes the checkpoints back', async () => {
    const f = await start();
    await eventually(() => expect(autocheckpoint(f.db)).toBe(0));
    const first = f.checkpointer.worker!;
    await first.terminate();
    await eventually(() => {
      expect(f.checkpointer.worker).toBeDefined();
      expect(f.checkpointer.worker).not.toBe(first);
      expect(autocheckpoint(f.db)).toBe(0);
    });
    const copied = framesCheckpointed(f.reports);
    await write(f.app, 20);
    await eventually(() => expect(framesCheckpointed(f.reports)).toBeGreaterThan(copied + 50));
    expect(await metric(f.app, 'webhook_wal_checkpointer_failures_total')).toBe(1);
  });
});

describe('checkpoint reports', () => {
  it('count the frames each checkpoint moved, and none for one that could not run at all', () => {
    // As PRAGMA wal_checkpoint answered in a row of ticks: the log grows, starts over, one
    // checkpoint cannot run (-1, -1: sqlite3_wal_checkpoint_v2), the next one runs.
    const rows: CheckpointRow[] = [
      { busy: 0, log: 100, checkpointed: 100 },
      { busy: 0, log: 150, checkpointed: 150 },
      { busy: 0, log: 20, checkpointed: 20 },
      { busy: 1, log: -1, checkpointed: -1 },
      { busy: 0, log: 45, checkpointed: 40 },
    ];
    let backfilled = 0;
    const reports = rows.map((row) => {
      const next = checkpointReport('PASSIVE', row, backfilled, 1);
      backfilled = next.backfilled;
      return next.report;
    });
    expect(reports.map((r) => r.frames)).toEqual([100, 50, 20, 0, 20]);
    expect(reports.map((r) => r.busy)).toEqual([false, false, false, true, false]);
    // What the metrics count: a counter cannot go down, so a negative figure would throw.
    expect(reports.every((r) => r.frames >= 0)).toBe(true);
  });

  it('a failing observer is logged and the thread goes on reporting', async () => {
    const f = await start();
    let calls = 0;
    f.checkpointer.observe({
      checkpointed: () => {
        calls += 1;
        throw new Error('observer broke');
      },
      workerFailed: () => {},
    });
    await write(f.app, 8);
    await eventually(() => expect(calls).toBeGreaterThan(0));
    const before = calls;
    await write(f.app, 8);
    await eventually(() => expect(calls).toBeGreaterThan(before));
    expect(f.logs.some((l) => l.msg === 'a checkpoint observer failed')).toBe(true);
    expect(f.checkpointer.worker).toBeDefined();
  });
});
