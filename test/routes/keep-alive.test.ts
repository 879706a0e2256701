/**
 * WEBHOOK_KEEP_ALIVE_SECONDS: a kept-alive connection serves several deliveries, and the receiver
 * closes it once it has been idle that long, so a paced fleet does not hold a descriptor per VM.
 * On a real socket.
 */
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { makeApp, runEvents, type TestApp } from '../helper.js';

let t: TestApp | undefined;
let socket: Socket | undefined;
afterEach(async () => {
  socket?.destroy();
  await t?.close();
  t = undefined;
});

/** One delivery on the open connection; resolves with the answer's head. */
function deliver(s: Socket, body: string): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const onData = (chunk: string) => {
      text += chunk;
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return;
      s.off('data', onData);
      resolve(text.slice(0, end));
    };
    s.on('data', onData);
    s.write(
      `POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  });
}

async function openConnection(keepAliveMs: number): Promise<Socket> {
  t = await makeApp({ keepAliveMs });
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = t.app.server.address() as { port: number };
  const s = connect({ host: '127.0.0.1', port }).setEncoding('latin1');
  await new Promise((resolve) => s.once('connect', resolve));
  return s;
}

describe('WEBHOOK_KEEP_ALIVE_SECONDS', () => {
  it('serves several deliveries on one connection, then closes it once it is idle', async () => {
    const s = await openConnection(200);
    socket = s;
    const closed = new Promise<string>((resolve) => s.once('close', () => resolve('closed')));
    const r = runEvents();
    for (const event of [r.started(), r.task(), r.finished()]) {
      const head = await deliver(s, JSON.stringify(event));
      expect(head).toMatch(/^HTTP\/1\.1 200 /);
      expect(head).toMatch(/\r\nconnection: keep-alive\r\n/i);
    }
    // Nothing more is sent: the receiver closes the connection, the client did not.
    await expect(closed).resolves.toBe('closed');
    expect(s.destroyed).toBe(true);
  });

  it('keeps an idle connection open for as long as it is told', async () => {
    const s = await openConnection(60_000);
    socket = s;
    let closed = false;
    s.once('close', () => {
      closed = true;
    });
    expect(await deliver(s, JSON.stringify(runEvents().started()))).toMatch(/^HTTP\/1\.1 200 /);
    // Well past the first test's 200 ms, and still open: the setting, not a fixed timeout, closed it there.
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(closed).toBe(false);
    expect(await deliver(s, JSON.stringify(runEvents().started()))).toMatch(/^HTTP\/1\.1 200 /);
  });
});
