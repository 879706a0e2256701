/** Opens the SQLite file with the settings the service depends on. */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';

export type Db = Database.Database;
export type Durability = 'normal' | 'full';

export function openDatabase(path: string, durability: Durability = 'normal'): Db {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  // Only takes effect on a new, empty file; lets retention give space back with incremental_vacuum.
  db.pragma('auto_vacuum = INCREMENTAL');
  db.pragma('journal_mode = WAL');
  // synchronous: in WAL mode NORMAL survives a process crash (every commit is in the WAL before the
  // answer) but may lose the last commits on power loss; FULL fsyncs each commit and survives power
  // loss too. Group commit (src/ingest/group-commit.ts) keeps FULL affordable, so operators choose.
  db.pragma(`synchronous = ${durability === 'full' ? 'FULL' : 'NORMAL'}`);
  db.pragma('foreign_keys = ON');
  // A backup or an operator's sqlite3 shell may hold a lock briefly; wait a little rather than fail at once, but
  // not long: the wait blocks the event loop, and the callback retries a 503 anyway.
  db.pragma('busy_timeout = 2000');
  return db;
}
