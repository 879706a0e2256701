/** Opens the SQLite file with the settings the service depends on. */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';

export type Db = Database.Database;
/** SQLite's own `synchronous` setting; see src/db/wal-sync.ts for how the service's durable mode works. */
export type Synchronous = 'normal' | 'full';

export function openDatabase(path: string, synchronous: Synchronous = 'normal'): Db {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  // Only takes effect on a new, empty file; lets retention give space back with incremental_vacuum.
  db.pragma('auto_vacuum = INCREMENTAL');
  db.pragma('journal_mode = WAL');
  // synchronous = NORMAL in WAL mode: every commit is written to the WAL before we answer, so a
  // process crash loses nothing; only a power loss can take the last commits, since the WAL is not
  // fsynced per commit. WEBHOOK_DURABILITY=full closes that gap without SQLite's FULL, which fsyncs
  // on the event loop: the group committer fsyncs the WAL in the thread pool and answers after it
  // (src/db/wal-sync.ts). SQLite still syncs the WAL before each checkpoint and the database after.
  // FULL stays available here for the benchmark's naive baseline.
  db.pragma(`synchronous = ${synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
  db.pragma('foreign_keys = ON');
  // A fleet's deliveries touch a page or more each of runs, hosts and the events index, all over
  // the file; a larger page cache keeps more of them in memory (16 MiB; the default is 2 MiB).
  // Larger showed no gain in the benchmark and costs resident memory.
  db.pragma('cache_size = -16384');
  // A backup or an operator's sqlite3 shell may hold a lock briefly; wait a little rather than fail
  // at once, but not long: the wait blocks the event loop, and the callback retries a 503 anyway.
  // Ingest's group commit does not wait here: it tries again on a timer (src/ingest/group-commit.ts).
  db.pragma('busy_timeout = 2000');
  return db;
}
