/**
 * Load shedding on POST /webhook: past WEBHOOK_MAX_IN_FLIGHT deliveries being handled, a new one
 * is refused at once with 503 and Retry-After, before its body is read, and the bound frees again
 * once the held deliveries are answered. On a real socket: the held deliveries are requests whose
 * body has not all arrived yet.
 */
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../eventually.js';
import { makeApp, runEvents, type TestApp } from '../helper.js';

let t: TestApp | undefined;
const open: Socket[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) s.destroy();
  await t?.close();
  t = undefined;
});

/** Sends a request over a new connection; resolves with the raw answer once the server closes it. */
function rawRequest(port: number, head: string, body: string): { socket: Socket; answer: Promise<string> } {
  const socket = connect({ host: '127.0.0.1', port });
  open.push(socket);
  socket.write(head + body);
  let text = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  const answer = new Promise<string>((resolve) => {
    const done = () => resolve(text);
    socket.once('end', done).once('close', done).once('error', done);
  });
  return { socket, answer };
}

const headFor = (length: number) =>
  `POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\nConnection: close\r\n\r\n`;

/**
 * A receiver with a bound of 2 on a real socket, and two deliveries held open (their headers are
 * in, half their body is not); resolves once a probe is refused, with that refusal.
 */
async function fillTheBound() {
  t = await makeApp({ maxInFlight: 2 });
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = t.app.server.address() as { port: number };
  const bodies = [JSON.stringify(runEvents().started()), JSON.stringify(runEvents().started())];
  const held = bodies.map((b) => ({ ...rawRequest(port, headFor(b.length), b.slice(0, 10)), rest: b.slice(10) }));
  const refused = await eventually(async () => {
    const b = JSON.stringify(runEvents().started());
    const answer = await rawRequest(port, headFor(b.length), b).answer;
    expect(answer).toMatch(/^HTTP\/1\.1 503 /);
    return answer;
  });
  return { app: t.app, port, held, refused };
}

describe('WEBHOOK_MAX_IN_FLIGHT', () => {
  it('answers 503 with Retry-After past the bound, and takes deliveries again once it frees', async () => {
    const { app, held, refused } = await fillTheBound();
    expect(refused).toMatch(/\r\nretry-after: [1-3]\r\n/i);
    const body = JSON.parse(refused.slice(refused.indexOf('\r\n\r\n') + 4)) as { code: string };
    expect(body.code).toBe('OVERLOADED');

    for (const h of held) h.socket.write(h.rest);
    for (const h of held) expect(await h.answer).toMatch(/^HTTP\/1\.1 200 /);
    const after = await app.inject({ method: 'POST', url: '/webhook', payload: JSON.stringify(runEvents().started()) });
    expect(after.statusCode).toBe(200);
    const metrics = await app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toMatch(/webhook_deliveries_rejected_total\{reason="overloaded"\} [1-9]/);
  });

  it('spreads the retries wider while refusals go on', async () => {
    const { port, held } = await fillTheBound();
    const seconds: number[] = [];
    for (let i = 0; i < 300; i++) {
      const b = JSON.stringify(runEvents().started());
      const answer = await rawRequest(port, headFor(b.length), b).answer;
      expect(answer).toMatch(/^HTTP\/1\.1 503 /);
      seconds.push(Number(/\r\nretry-after: (\d+)\r\n/i.exec(answer)?.[1]));
    }
    // 300 refusals in a few seconds, against the 100 admissions a second counted at least: the
    // first 20 keep the floor (1-3 s), the rest grow to twice it.
    expect(seconds.slice(0, 20).every((s) => s >= 1 && s <= 3)).toBe(true);
    expect(Math.max(...seconds)).toBeGreaterThan(3);
    expect(Math.max(...seconds)).toBeLessThanOrEqual(6);
    for (const h of held) h.socket.write(h.rest);
    for (const h of held) expect(await h.answer).toMatch(/^HTTP\/1\.1 200 /);
  });

  it('keeps a kept-alive connection open when it sheds, so the retry needs no new connection', async () => {
    const { port, held } = await fillTheBound();

    const socket = connect({ host: '127.0.0.1', port });
    open.push(socket);
    let text = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
    const keptHead = (length: number) =>
      `POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`;
    const first = JSON.stringify(runEvents().started());
    socket.write(keptHead(first.length) + first);
    await eventually(() => expect(text).toMatch(/^HTTP\/1\.1 503 [\s\S]*"OVERLOADED"/));
    expect(text).not.toMatch(/\r\nconnection: close\r\n/i);

    for (const h of held) h.socket.write(h.rest);
    for (const h of held) expect(await h.answer).toMatch(/^HTTP\/1\.1 200 /);
    text = '';
    socket.write(keptHead(first.length) + first);
    await eventually(() => expect(text).toMatch(/^HTTP\/1\.1 200 [\s\S]*"stored":1/));
    expect(socket.destroyed).toBe(false);
  });

  it('does not write a delivery whose sender closed its connection while the delivery waited for its commit', async () => {
    t = await makeApp();
    await t.app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = t.app.server.address() as { port: number };
    const { app, db } = t;
    const stored = db.prepare<[string], 1>('SELECT 1 FROM events WHERE event_id = ?').pluck();
    const goneCount = async () =>
      Number(/webhook_deliveries_rejected_total\{reason="client_gone"\} (\d+)/.exec((await app.inject('/metrics')).body)?.[1] ?? 0);
    // A commit just happened, so the next delivery waits out the gap between commits (5 ms); a
    // sender that sends and closes at once is gone by then. A slow machine can miss the gap, so a
    // few tries, each either stored or dropped, never both.
    let drops = 0;
    for (let attempt = 0; attempt < 10 && drops === 0; attempt++) {
      const before = await goneCount();
      await app.inject({ method: 'POST', url: '/webhook', payload: JSON.stringify(runEvents().started()) });
      const event = runEvents().started();
      const body = JSON.stringify(event);
      const { socket, answer } = rawRequest(port, headFor(body.length), body);
      socket.end();
      const text = await answer;
      // The server may close its side before the commit that drops or writes the delivery.
      const dropped = await eventually(async () => {
        const gone = (await goneCount()) > before;
        expect(gone || stored.get(event.event_id) === 1).toBe(true);
        return gone;
      });
      expect(stored.get(event.event_id) === 1).toBe(!dropped);
      if (dropped) expect(text).toBe('');
      drops += dropped ? 1 : 0;
    }
    expect(drops).toBe(1);
  });

  it('frees its place once a delivery is answered or refused: more deliveries in a row than the bound all get through', async () => {
    t = await makeApp({ maxInFlight: 8 });
    const refused = new Set<number>();
    for (let i = 0; i < 10; i++) refused.add((await t.app.inject({ method: 'POST', url: '/webhook', payload: '{}' })).statusCode);
    expect([...refused]).toEqual([400]);
    const codes = new Set<number>();
    for (let i = 0; i < 20; i++)
      codes.add((await t.app.inject({ method: 'POST', url: '/webhook', payload: JSON.stringify(runEvents().started()) })).statusCode);
    expect([...codes]).toEqual([200]);
  });
});
