/**
 * The built service checkpoints its WAL from a thread of its own, in both durability modes, and a
 * SIGTERM leaves no WAL behind: everything is in the database file for the next start.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { eventually } from '../eventually.js';
import { runEvents, tempDir } from '../helper.js';
import { serversKilledAfterEach } from './server-process.js';

const startServer = serversKilledAfterEach();

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? Number.NaN : Number(line.split(' ')[1]);
}

describe('WAL checkpoints in the service', () => {
  for (const durability of ['normal', 'full']) {
    it(`copies the WAL from its thread and leaves none after SIGTERM (${durability})`, async () => {
      const dbPath = join(tempDir(), 'webhook.db');
      const server = await startServer({ WEBHOOK_DB: dbPath, WEBHOOK_DURABILITY: durability });
      const ids: string[] = [];
      for (let i = 0; i < 50; i++) {
        const run = runEvents();
        const events = [run.started(), run.task('changed'), run.finished()];
        const res = await fetch(`${server.url}/webhook`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ events }),
        });
        expect(res.status).toBe(200);
        ids.push(...events.map((e) => e.event_id));
      }
      // The thread checkpoints once a second.
      await eventually(async () => expect(await metric(server.url, 'webhook_wal_checkpointed_frames_total')).toBeGreaterThan(0), {
        timeout: 10_000,
      });
      expect(await metric(server.url, 'webhook_wal_checkpointer_failures_total')).toBe(0);
      expect(await server.stop('SIGTERM')).toBe(0);
      // The process waited for the thread's last checkpoint, and closed the database after it.
      expect(server.logs.some((l) => l.msg === 'stopped cleanly')).toBe(true);
      expect(existsSync(`${dbPath}-wal`)).toBe(false);
      const db = new Database(dbPath, { readonly: true });
      const stored = db.prepare('SELECT count(*) FROM events').pluck().get();
      db.close();
      expect(stored).toBe(ids.length);
    });
  }
});
