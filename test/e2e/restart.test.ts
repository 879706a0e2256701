import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runEvents, host, tempDir } from '../helper.js';
import { serversKilledAfterEach } from './server-process.js';

const startServer = serversKilledAfterEach();

async function postJson(url: string, body: unknown) {
  const res = await fetch(`${url}/webhook`, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
  });
  return res.status;
}

describe('restart keeps everything', () => {
  it('answers the same queries after a stop and a start', async () => {
    const db = join(tempDir(), 'webhook.db');
    let server = await startServer({ WEBHOOK_DB: db });
    for (let i = 0; i < 5; i++) {
      const r = runEvents({ host: host({ hostname: `vm-${i}`, machine_id: undefined, vmid: 200 + i }) });
      const events = [r.started(), r.task('ok'), r.task(i === 3 ? 'failed' : 'changed')];
      if (i !== 4) events.push(r.finished(i === 3 ? 1 : 0));
      expect(await postJson(server.url, { events })).toBe(200);
    }
    const urls = ['/hosts', '/runs?limit=3', '/hosts/203', '/hosts/vm-4'];
    const before = await Promise.all(urls.map(async (u) => (await fetch(server!.url + u)).text()));
    expect(await server.stop('SIGTERM')).toBe(0);
    expect(server.logs.some((l) => l.msg === 'stopped cleanly')).toBe(true);

    server = await startServer({ WEBHOOK_DB: db });
    const after = await Promise.all(urls.map(async (u) => (await fetch(server!.url + u)).text()));
    expect(after).toEqual(before);
    expect(JSON.parse(after[0]!).total).toBe(5);
  });

  it('refuses to start on a database from a newer release', async () => {
    const db = join(tempDir(), 'webhook.db');
    const server = await startServer({ WEBHOOK_DB: db });
    await server.stop();
    const Database = (await import('better-sqlite3')).default;
    const raw = new Database(db);
    raw.pragma('user_version = 42');
    raw.close();
    await expect(startServer({ WEBHOOK_DB: db })).rejects.toThrow(/exited with 3/);
  });

  it('refuses to start on bad configuration, listing every problem', async () => {
    await expect(startServer({ WEBHOOK_PORT: 'x', WEBHOOK_DURABILITY: 'sometimes' })).rejects.toThrow(
      /exited with 2[\s\S]*WEBHOOK_PORT[\s\S]*WEBHOOK_DURABILITY/,
    );
  });
});
