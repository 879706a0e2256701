/** Applies the numbered plain-SQL migrations in migrations/, tracked by PRAGMA user_version. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Db } from './database.js';

// Found from src/db (tests run the sources) or dist/src/db (the built service).
export const MIGRATIONS_DIR =
  ['../../migrations/', '../../../migrations/']
    .map((rel) => fileURLToPath(new URL(rel, import.meta.url)))
    .find((dir) => existsSync(join(dir, '001_initial.sql'))) ?? 'migrations';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export class DatabaseTooNewError extends Error {
  constructor(
    readonly found: number,
    readonly known: number,
  ) {
    super(
      `database schema version ${found} is newer than this build knows (${known}); ` +
        'run the newer release or restore a backup taken before the upgrade',
    );
  }
}

/** Reads NNN_name.sql files in order; a gap or duplicate number is a packaging error. */
export function readMigrations(dir: string = MIGRATIONS_DIR): Migration[] {
  const files = readdirSync(dir)
    .filter((f) => /^\d+_[\w-]+\.sql$/.test(f))
    .sort();
  return files.map((file, i) => {
    const version = Number.parseInt(file, 10);
    if (version !== i + 1) throw new Error(`migration ${file}: expected number ${i + 1}`);
    return { version, name: file, sql: readFileSync(join(dir, file), 'utf8') };
  });
}

/** Brings the database to the newest version; returns the versions applied. */
export function migrate(db: Db, migrations: Migration[] = readMigrations()): number[] {
  const current = db.pragma('user_version', { simple: true }) as number;
  const latest = migrations.length === 0 ? 0 : migrations[migrations.length - 1]!.version;
  if (current > latest) throw new DatabaseTooNewError(current, latest);
  const applied: number[] = [];
  for (const m of migrations.filter((m) => m.version > current)) {
    // The schema change and its version bump commit together or not at all.
    db.transaction(() => {
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
    }).immediate();
    applied.push(m.version);
  }
  return applied;
}
