/** `cli.js backup` copies a live database consistently; the copy restores by copying it back. */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { eventually } from '../eventually.js';
import { tempDir } from '../helper.js';
import { startLoad } from './load.js';
import { ROOT, serversKilledAfterEach } from './server-process.js';

const run = promisify(execFile);
const startServer = serversKilledAfterEach();

describe('backup', () => {
  it('writes a consistent copy while the receiver takes load, and the copy serves after a restore', async () => {
    const dir = tempDir();
    const dbPath = join(dir, 'webhook.db');
    let server = await startServer({ WEBHOOK_DB: dbPath });
    const load = startLoad(server.url, 8);
    // The copy is taken while writes are landing.
    await eventually(() => expect(load.result.acked.size).toBeGreaterThan(100), { timeout: 10_000 });
    const copy = join(dir, 'copy.db');
    const { stdout } = await run(process.execPath, [join(ROOT, 'dist', 'src', 'cli.js'), 'backup', copy], {
      env: { PATH: process.env.PATH ?? '', WEBHOOK_DB: dbPath },
    });
    expect(stdout).toContain(`backup written to ${copy}`);
    const result = await load.stop();
    expect(result.acked.size).toBeGreaterThan(0);

    const db = new Database(copy, { readonly: true });
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(db.pragma('foreign_key_check')).toEqual([]);
    const events = db.prepare('SELECT count(*) FROM events').pluck().get() as number;
    expect(events).toBeGreaterThan(0);
    db.close();
    await server.stop();

    // Restore: start a receiver on the copy; it answers with what the copy holds.
    server = await startServer({ WEBHOOK_DB: copy });
    const fleet = (await (await fetch(`${server.url}/hosts`)).json()) as { total: number };
    expect(fleet.total).toBeGreaterThan(0);
  });

  it('explains its usage', async () => {
    const { stdout } = await run(process.execPath, [join(ROOT, 'dist', 'src', 'cli.js'), '--help']);
    expect(stdout).toMatch(/migrate[\s\S]*backup/);
  });
});
