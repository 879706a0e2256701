/**
 * Hostile input on a real socket: ≥10,000 generated bad requests (malformed JSON, deep nesting,
 * huge strings, wrong types, unicode, bad signatures, absurd headers). Zero 5xx, the process stays
 * up with bounded memory, and the valid events posted in between are all stored.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import fc from 'fast-check';
import { Pool } from 'undici';
import { describe, expect, it } from 'vitest';
import { secretKey, sign } from '../../src/ingest/signature.js';
import { runEvents, host, tempDir } from '../helper.js';
import { serversKilledAfterEach } from './server-process.js';

const startServer = serversKilledAfterEach();

const secret = `whsec_${randomBytes(32).toString('base64')}`;
const key = secretKey(secret);

function signedHeaders(body: string, corrupt = false): Record<string, string> {
  const id = `msg_${randomUUID()}`;
  const ts = Math.floor(Date.now() / 1000);
  const sig = corrupt ? sign(randomBytes(32), id, ts, body) : sign(key, id, ts, body);
  return { 'webhook-id': id, 'webhook-timestamp': String(ts), 'webhook-signature': `v1,${sig}` };
}

interface BadRequest {
  body: string;
  headers: Record<string, string>;
  /** Leave the signature off or wrong, to fuzz the signature check itself. */
  signature: 'good' | 'bad' | 'none';
}

const validEvent = () => runEvents({ host: host({ hostname: 'fuzz-target', machine_id: undefined }) }).task('ok');

/** Replaces one field of a valid event with an arbitrary value. */
const wrongTypes = fc.record({ path: fc.constantFrom('v', 'event_id', 'run_id', 'seq', 'time', 'kind', 'host', 'data', 'host.hostname', 'host.vmid', 'host.ips', 'data.status', 'data.duration_ms', 'data.task'), value: fc.anything({ maxDepth: 3 }) })
  .map(({ path, value }) => {
    const e = validEvent() as unknown as Record<string, Record<string, unknown>>;
    const [a, b] = path.split('.') as [string, string?];
    if (b === undefined) (e as Record<string, unknown>)[a] = value;
    else e[a]![b] = value;
    return JSON.stringify(e) ?? 'null';
  });

const bodies: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.json({ maxDepth: 4 }),
  wrongTypes,
  fc.integer({ min: 1, max: 200 }).map((n) => JSON.stringify(validEvent()).slice(0, n)),
  fc.integer({ min: 100, max: 50_000 }).map((depth) => '['.repeat(depth) + ']'.repeat(depth)),
  fc.integer({ min: 100, max: 20_000 }).map((depth) => `${'{"events":'.repeat(depth)}[]${'}'.repeat(depth)}`),
  fc.integer({ min: 10_000, max: 1_500_000 }).map((n) => JSON.stringify({ ...validEvent(), pad: 'é'.repeat(n) })),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 300 }).map((s) => JSON.stringify({ ...validEvent(), host: { hostname: s } })),
  fc.array(wrongTypes, { minLength: 1, maxLength: 20 }).map((es) => `{"events":[${es.join(',')}]}`),
  fc.constant('{"__proto__":{"polluted":true},"constructor":{"prototype":{"x":1}}}'),
);

const headerSets: fc.Arbitrary<Record<string, string>> = fc.oneof(
  fc.constant({ 'content-type': 'application/json' }),
  fc.constant({}),
  fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=latin1', '*/*', ';;;').map((ct) => ({ 'content-type': ct })),
  fc.string({ unit: 'grapheme-ascii', maxLength: 200 }).map((v) => ({ 'content-type': 'application/json', 'x-junk': v.replace(/[\r\n]/g, '') })),
  fc.integer({ min: 8_000, max: 20_000 }).map((n) => ({ 'content-type': 'application/json', 'x-huge': 'a'.repeat(n) })),
  fc.constant({ 'content-type': 'application/json', 'x-forwarded-for': 'not-an-ip, 999.1.1.1' }),
);

const badRequests: fc.Arbitrary<BadRequest> = fc.record({
  body: bodies,
  headers: headerSets,
  signature: fc.constantFrom<BadRequest['signature']>('good', 'good', 'good', 'bad', 'none'),
});

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

/** Raw-socket oddities undici will not send: lying Content-Length, garbage request lines. */
async function rawRequest(url: string, payload: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname, () => socket.end(payload));
    let data = '';
    socket.on('data', (d) => (data += d.toString()));
    socket.on('close', () => resolve(data));
    socket.on('error', () => resolve(data));
    socket.setTimeout(3000, () => socket.destroy());
  });
}

describe('hostile input', () => {
  it('10,000 generated bad requests: no 5xx, bounded memory, valid events kept', async () => {
    const server = await startServer({ WEBHOOK_DB: join(tempDir(), 'webhook.db'), WEBHOOK_SECRETS: secret });
    const pool = new Pool(server.url, { connections: 16 });
    const samples = fc.sample(badRequests, { numRuns: 10_000, seed: 20261126 });
    const statuses = new Map<number, number>();
    const valid: string[] = [];
    let peakRss = rssMb(server.proc.pid!);
    let next = 0;

    const worker = async () => {
      while (next < samples.length) {
        const i = next++;
        const req = samples[i]!;
        if (i % 100 === 0) {
          const e = validEvent();
          const body = JSON.stringify(e);
          // A connection closed by the server after a neighbour's absurd request is retried, as a client would.
          let status = 0;
          for (let attempt = 0; attempt < 3 && status === 0; attempt++) {
            try {
              const res = await pool.request({ path: '/webhook', method: 'POST', headers: { 'content-type': 'application/json', ...signedHeaders(body) }, body });
              await res.body.dump();
              status = res.statusCode;
            } catch {
              status = 0;
            }
          }
          expect(status).toBe(200);
          valid.push(e.run_id);
          peakRss = Math.max(peakRss, rssMb(server!.proc.pid!));
        }
        const sig = req.signature === 'none' ? {} : signedHeaders(req.body, req.signature === 'bad');
        try {
          const res = await pool.request({ path: '/webhook', method: 'POST', headers: { ...req.headers, ...sig }, body: req.body });
          await res.body.dump();
          statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
        } catch (err) {
          // The server may drop a connection that sent absurd headers; that is not a 5xx.
          statuses.set(-1, (statuses.get(-1) ?? 0) + 1);
          if (!(err instanceof Error)) throw err;
        }
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));

    const raw = await Promise.all([
      rawRequest(server.url, 'POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"v":1}'),
      rawRequest(server.url, 'POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{"v":1,"x":2}'),
      rawRequest(server.url, 'GARBAGE / HTTP/9.9\r\n\r\n'),
      rawRequest(server.url, 'POST /webhook HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'),
    ]);
    for (const answer of raw) expect(answer).not.toMatch(/^HTTP\/1\.1 5\d\d/);
    await pool.close();

    const fiveHundreds = [...statuses.entries()].filter(([s]) => s >= 500);
    expect(fiveHundreds).toEqual([]);
    expect([...statuses.values()].reduce((a, b) => a + b, 0)).toBe(10_000);
    // The receiver is alive and has every valid event.
    expect(valid).toHaveLength(100);
    for (const runId of valid) {
      const check = await fetch(`${server.url}/runs/${runId}`);
      expect(check.status).toBe(200);
      expect(((await check.json()) as { task_results: unknown[] }).task_results).toHaveLength(1);
    }
    expect(server.proc.exitCode).toBeNull();
    expect(peakRss).toBeLessThan(400);
    console.log(`hostile input: statuses ${JSON.stringify(Object.fromEntries(statuses))}, peak RSS ${peakRss.toFixed(0)} MB`);
  }, 120_000);
});
