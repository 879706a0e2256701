/**
 * Crash and stop safety on a real process: every event that got a 2xx must be in the database
 * after SIGKILL at any moment, and SIGTERM under load must exit 0 without losing one.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { eventually, quietFor } from '../eventually.js';
import { tempDir } from '../helper.js';
import { startLoad } from './load.js';
import { serversKilledAfterEach } from './server-process.js';

const startServer = serversKilledAfterEach();

function storedIds(dbPath: string): { ids: Set<string>; integrity: string } {
  const db = new Database(dbPath);
  const ids = new Set(db.prepare('SELECT event_id FROM events').pluck().all() as string[]);
  const integrity = db.pragma('integrity_check', { simple: true }) as string;
  db.close();
  return { ids, integrity };
}

describe('durability', () => {
  for (const durability of ['normal', 'full']) {
    it(`SIGKILL under load loses no acknowledged event (${durability}), at several points`, async () => {
      const dbPath = join(tempDir(), 'webhook.db');
      const allAcked = new Set<string>();
      for (const killAfterMs of [150, 500, 1100]) {
        let server = await startServer({ WEBHOOK_DB: dbPath, WEBHOOK_DURABILITY: durability });
        const load = startLoad(server.url, 24);
        // Points after the load is flowing: on a busy machine the first answers can take a while.
        await eventually(() => expect(load.result.acked.size).toBeGreaterThan(0), { timeout: 10_000 });
        await quietFor(killAfterMs);
        server.proc.kill('SIGKILL');
        await server.exited;
        const result = await load.stop();
        for (const id of result.acked) allAcked.add(id);
        expect(result.acked.size).toBeGreaterThan(0);
        // Restart on the same file (recovery runs), then check with a separate connection.
        server = await startServer({ WEBHOOK_DB: dbPath, WEBHOOK_DURABILITY: durability });
        const ready = await fetch(`${server.url}/readyz`);
        expect(ready.status).toBe(200);
        await server.stop();
        const { ids, integrity } = storedIds(dbPath);
        expect(integrity).toBe('ok');
        const missing = [...allAcked].filter((id) => !ids.has(id));
        expect(missing).toEqual([]);
      }
    }, 60_000);
  }

  it('SIGTERM under load exits 0 promptly and keeps every acknowledged event', async () => {
    const dbPath = join(tempDir(), 'webhook.db');
    const server = await startServer({ WEBHOOK_DB: dbPath });
    const load = startLoad(server.url, 24);
    await eventually(() => expect(load.result.acked.size).toBeGreaterThan(100), { timeout: 10_000 });
    const started = Date.now();
    server.proc.kill('SIGTERM');
    const code = await server.exited;
    const stopMs = Date.now() - started;
    const result = await load.stop();
    expect(code).toBe(0);
    // systemd's TimeoutStopSec is 30 s; a clean stop takes far less.
    expect(stopMs).toBeLessThan(10_000);
    expect(result.acked.size).toBeGreaterThan(100);
    // Nothing the receiver answered was a server error.
    expect([...result.statuses.keys()].filter((s) => s >= 500 && s !== 503)).toEqual([]);
    const { ids, integrity } = storedIds(dbPath);
    expect(integrity).toBe('ok');
    expect([...result.acked].filter((id) => !ids.has(id))).toEqual([]);
    expect(server.logs.some((l) => l.msg === 'stopped cleanly')).toBe(true);
  }, 30_000);
});
