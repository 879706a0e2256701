import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/database.js';
import { DatabaseTooNewError, migrate, readMigrations } from '../../src/db/migrate.js';
import { tempDir } from '../helper.js';

describe('migrations', () => {
  it('bring an empty file to the latest version with WAL, foreign keys and incremental vacuum', () => {
    const db = openDatabase(join(tempDir(), 'new.db'));
    const latest = readMigrations().length;
    expect(migrate(db)).toEqual(Array.from({ length: latest }, (_, i) => i + 1));
    expect(db.pragma('user_version', { simple: true })).toBe(latest);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(db.pragma('auto_vacuum', { simple: true })).toBe(2);
    const tables = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).pluck().all();
    expect(tables).toEqual(expect.arrayContaining(['cloud_init_events', 'events', 'host_ips', 'hosts', 'runs']));
    // A second run applies nothing.
    expect(migrate(db)).toEqual([]);
    db.close();
  });

  it('refuse a database newer than the code knows', () => {
    const path = join(tempDir(), 'future.db');
    const db = openDatabase(path);
    migrate(db);
    db.pragma('user_version = 99');
    expect(() => migrate(db)).toThrow(DatabaseTooNewError);
    expect(() => migrate(db)).toThrow(/schema version 99 is newer than this build knows/);
    db.close();
  });

  it('roll back a failing migration together with its version bump', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'm'));
    writeFileSync(join(dir, 'm', '001_ok.sql'), 'CREATE TABLE a (x INTEGER);');
    writeFileSync(join(dir, 'm', '002_broken.sql'), 'CREATE TABLE b (y INTEGER); INSERT INTO nowhere VALUES (1);');
    const db = openDatabase(join(dir, 'x.db'));
    expect(() => migrate(db, readMigrations(join(dir, 'm')))).toThrow(/no such table: nowhere/);
    expect(db.pragma('user_version', { simple: true })).toBe(1);
    expect(db.prepare(`SELECT count(*) FROM sqlite_master WHERE name = 'b'`).pluck().get()).toBe(0);
    db.close();
  });

  it('refuse a gap in the numbering', () => {
    const dir = tempDir();
    writeFileSync(join(dir, '001_a.sql'), 'SELECT 1;');
    writeFileSync(join(dir, '003_c.sql'), 'SELECT 1;');
    expect(() => readMigrations(dir)).toThrow(/003_c.sql: expected number 2/);
  });
});
