/**
 * src/net/acceptors.ts: copies of the listening socket, so one turn of the event loop accepts
 * several waiting connections (libuv takes one per descriptor per turn), all served by the one
 * HTTP server.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { acceptQueueIn } from '../../src/ingest/accept-queue.js';
import { createLogger } from '../../src/logger.js';
import { addAcceptors, type Acceptors } from '../../src/net/acceptors.js';
import { makeApp, runEvents, type TestApp } from '../helper.js';

const quiet = createLogger('silent');
const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** A bare listener counting its connections, with `copies` extra acceptors. */
async function listener(copies: number): Promise<{ server: Server; port: number; acceptors: Acceptors; accepted: () => number }> {
  let accepted = 0;
  const server = createServer((socket) => {
    accepted += 1;
    socket.on('error', () => undefined);
    cleanup.push(() => void socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, resolve));
  const acceptors = await addAcceptors(server, copies, 4096, quiet);
  cleanup.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  cleanup.push(() => acceptors.close(1000));
  return { server, port: (server.address() as { port: number }).port, acceptors, accepted: () => accepted };
}

/**
 * Holds the event loop until `n` connections from another process wait in the accept queue, then
 * resolves with how many the next turn of the loop accepted.
 */
async function acceptedInOneTurn(port: number, n: number, accepted: () => number): Promise<number> {
  const client = spawn(process.execPath, [
    '-e',
    `const net=require('net');for(let i=0;i<${n};i++)net.connect(${port},'127.0.0.1').on('error',()=>{});setTimeout(()=>{},30000)`,
  ]);
  cleanup.push(() => void client.kill());
  // From the check phase, the next setImmediate runs after exactly one poll for I/O.
  const nextCheck = () => new Promise((resolve) => setImmediate(resolve));
  await nextCheck();
  const deadline = Date.now() + 10_000;
  // Blocking on purpose: the connections must queue while the loop cannot accept them.
  while ((acceptQueueIn(readFileSync('/proc/net/tcp', 'latin1'), port) ?? 0) < n && Date.now() < deadline);
  const before = accepted();
  await nextCheck();
  return accepted() - before;
}

describe('addAcceptors', () => {
  it('accepts as many waiting connections in one turn as there are descriptors', async () => {
    const one = await listener(0);
    expect(one.acceptors.count).toBe(1);
    expect(await acceptedInOneTurn(one.port, 20, one.accepted)).toBe(1);

    const eight = await listener(7);
    expect(eight.acceptors.count).toBe(8);
    expect(await acceptedInOneTurn(eight.port, 20, eight.accepted)).toBe(8);
  });

  it('hands every connection to the HTTP server, and once closed with it the port refuses', async () => {
    const t: TestApp = await makeApp();
    await t.app.listen({ host: '127.0.0.1', port: 0 });
    const port = (t.app.server.address() as { port: number }).port;
    const acceptors = await addAcceptors(t.app.server, 3, 4096, quiet);
    expect(acceptors.count).toBe(4);
    const r = runEvents();
    const answers = await Promise.all(
      [r.started(), r.task(), r.task(), r.task(), r.task(), r.task(), r.task(), r.task()].map((e) =>
        fetch(`http://127.0.0.1:${port}/webhook`, { method: 'POST', body: JSON.stringify(e), headers: { connection: 'close' } }),
      ),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(8).fill(200));
    expect(t.db.prepare('SELECT tasks_total FROM runs').pluck().get()).toBe(7);

    await acceptors.close(1000);
    await t.close();
    const refused = await new Promise<string>((resolve) => {
      connect({ host: '127.0.0.1', port })
        .on('connect', () => resolve('connected'))
        .on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    });
    expect(refused).toBe('ECONNREFUSED');
  });

  it('logs a failed accept instead of dying of it, one line a second however many fail', async () => {
    const lines: string[] = [];
    const logger = createLogger('warn', { write: (line: string) => void lines.push(line) });
    const { server } = await listener(0);
    await addAcceptors(server, 0, 4096, logger);
    const emfile = Object.assign(new Error('accept EMFILE'), { code: 'EMFILE' });
    for (let i = 0; i < 50; i++) server.emit('error', emfile);
    const logged = lines.map((l) => JSON.parse(l) as { msg: string; count: number; err: { code: string } });
    expect(logged).toEqual([expect.objectContaining({ count: 1, err: expect.objectContaining({ code: 'EMFILE' }) })]);
    expect(logged[0]!.msg).toMatch(/^accepting a connection failed/);
  });

  it('goes on with the one descriptor when there is no socket to copy, and says so', async () => {
    const lines: string[] = [];
    const logger = createLogger('warn', { write: (line: string) => void lines.push(line) });
    const acceptors = await addAcceptors(createServer(), 3, 4096, logger);
    expect(acceptors.count).toBe(1);
    expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual([
      'could not add acceptors to the listening socket; accepting on one descriptor',
    ]);
  });
});
