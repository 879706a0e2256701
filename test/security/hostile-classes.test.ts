/**
 * Property-based hostile input for the classes that once got through (docs/security.md): numbers at
 * and beyond the range of a date in every time field, keys objects inherit in every object,
 * identities of the longest allowed length in every URL, and identity claims mixed across hosts.
 * No answer is a 5xx, and afterwards every read of every host still answers.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeApp, runEvents, type TestApp } from '../helper.js';

const ADMIN = 'hostile-admin-token-0123456789';
let t: TestApp;
beforeAll(async () => {
  t = await makeApp({ adminToken: ADMIN });
});
afterAll(async () => t.close());

const LONG = `h${'a'.repeat(252)}`;
const pool = {
  hostname: ['web-a', 'web-b', 'web-c', LONG],
  machine_id: ['a'.repeat(32), 'b'.repeat(32), 'c'.repeat(32)],
  instance_id: ['iid-a', 'iid-b'],
  vmid: [101, 102, 103],
  ips: [['10.0.0.1'], ['10.0.0.2'], ['10.0.0.1', '10.0.0.2']],
};
const RESERVED = ['__proto__', 'constructor', 'prototype'];

/** A host identity mixed from several hosts' identities. */
const identity = fc.record(
  {
    hostname: fc.constantFrom(...pool.hostname),
    machine_id: fc.constantFrom(...pool.machine_id),
    instance_id: fc.constantFrom(...pool.instance_id),
    vmid: fc.constantFrom(...pool.vmid),
    ips: fc.constantFrom(...pool.ips),
  },
  { requiredKeys: ['hostname'] },
);

/** Times at and beyond what a Date holds: numbers for cloud-init, ISO strings for events. */
const seconds = fc.oneof(
  fc.constantFrom(-1, 0, 4102444799, 4102444800, 1e13, 1e300, 8.64e12, Number.MAX_SAFE_INTEGER),
  fc.double({ noNaN: true }),
);
const isoTime = fc.constantFrom(
  '1969-12-31T23:59:59Z',
  '1970-01-01T00:00:00Z',
  '2099-12-31T23:59:59Z',
  '2100-01-01T00:00:00Z',
  '9999-12-31T23:59:59Z',
  '0000-01-01T00:00:00Z',
  '2026-12-02T10:00:00Z',
);
const queryTime = fc.oneof(fc.constantFrom('1e13', '99999999999999', '-1', '0', '4102444800'), isoTime);

/** A JSON object text that carries a reserved key at the top (JSON.stringify would drop __proto__). */
const withReservedKey = (json: string, key: string) =>
  `{"${key}": {"ok": 1, "changed": 0, "failed": 3, "skipped": 0, "unreachable": 0, "rescued": 0, "ignored": 0}, ${json.slice(1)}`;

type Req = { method: 'GET' | 'POST' | 'PUT'; url: string; payload?: string; headers?: Record<string, string> };

const requests: fc.Arbitrary<Req> = fc.oneof(
  // Events whose identity mixes hosts, at any time.
  fc.tuple(identity, isoTime, fc.constantFrom('started', 'task', 'finished')).map(([host, time, kind]): Req => {
    const r = runEvents({ host });
    const e = kind === 'started' ? r.started() : kind === 'task' ? r.task('ok') : r.finished(1);
    return { method: 'POST', url: '/webhook', payload: JSON.stringify({ events: [{ ...e, time }] }) };
  }),
  // A run's stats keyed by a name objects inherit.
  fc.tuple(identity, fc.constantFrom(...RESERVED)).map(([host, key]): Req => {
    const r = runEvents({ host });
    const finished = r.finished(3) as { data: { stats: Record<string, unknown> } };
    const stats = withReservedKey(JSON.stringify(finished.data.stats), key);
    const text = JSON.stringify({ events: [r.started(), finished] }).replace(JSON.stringify(finished.data.stats), stats);
    return { method: 'POST', url: '/webhook', payload: text };
  }),
  // Reserved keys in the envelope, the host and the data.
  fc.tuple(identity, fc.constantFrom(...RESERVED), fc.constantFrom('envelope', 'host', 'data')).map(([host, key, where]): Req => {
    const e = JSON.stringify(runEvents({ host }).task('ok'));
    const text = where === 'envelope' ? `{"${key}": {"x": 1}, ${e.slice(1)}` : e.replace(`"${where}":{`, `"${where}":{"${key}":{"x":1},`);
    return { method: 'POST', url: '/webhook', payload: text };
  }),
  // cloud-init reports at any time, for any identity, of any length.
  fc.tuple(fc.constantFrom(...pool.hostname, '10.0.0.1', '101'), seconds, fc.constantFrom('SUCCESS', 'FAIL')).map(
    ([vm, timestamp, result]): Req => ({
      method: 'POST',
      url: `/cloud-init/${vm}/events`,
      payload: JSON.stringify({ name: 'modules-final', event_type: 'finish', timestamp, result }),
    }),
  ),
  fc.tuple(fc.constantFrom(...pool.hostname), fc.constantFrom(...pool.instance_id, ...RESERVED)).map(
    ([vm, iid]): Req => ({
      method: 'POST',
      url: `/cloud-init/${vm}/phone-home`,
      payload: `instance_id=${iid}&hostname=${vm}&${RESERVED[0]}=x`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    }),
  ),
  // The expected fleet, with reserved label keys and long names.
  fc.tuple(fc.subarray(pool.hostname, { minLength: 1 }), fc.constantFrom(...RESERVED, 'role')).map(
    ([names, key]): Req => ({
      method: 'PUT',
      url: '/fleet',
      payload: `{"vms": [${names.map((n, i) => `{"name": "${n}", "vmid": ${200 + i}, "labels": {"${key}": "x"}}`).join(', ')}]}`,
      headers: { authorization: `Bearer ${ADMIN}` },
    }),
  ),
  // Reads by every identity, of the longest length, with times beyond a date.
  fc
    .tuple(fc.constantFrom(...pool.hostname, '10.0.0.1', '10.0.0.2', '101', 'iid-a', 'a'.repeat(32)), queryTime)
    .chain(([vm, time]) =>
      fc.constantFrom<Req>(
        { method: 'GET', url: `/hosts/${vm}` },
        { method: 'GET', url: `/hosts/${vm}/wait?timeout=0&since=${time}` },
        { method: 'GET', url: `/ui/hosts/${vm}` },
        { method: 'GET', url: `/runs?host=${vm}&since=${time}` },
        { method: 'GET', url: `/fleet/wait?vm=${vm}&timeout=0&since=${time}` },
      ),
    ),
);

describe('hostile classes, generated', () => {
  it('no 5xx for times beyond a date, inherited keys, longest identities and mixed identity claims; every read answers after', async () => {
    const samples = fc.sample(requests, { numRuns: 1500, seed: 20261202 });
    const statuses = new Map<number, number>();
    for (const req of samples) {
      const res = await t.app.inject({ ...req, headers: { 'content-type': 'application/json', ...req.headers } });
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
      expect(res.statusCode, `${req.method} ${req.url.slice(0, 80)} ${req.payload?.slice(0, 200)}: ${res.body.slice(0, 300)}`).toBeLessThan(
        500,
      );
    }
    // Refusals and acceptances both happened: the generators reach past validation.
    expect(statuses.get(200)).toBeGreaterThan(100);
    expect([...statuses.keys()].some((s) => s === 409)).toBe(true);
    for (const url of ['/hosts', '/fleet', '/', ...pool.hostname.flatMap((h) => [`/hosts/${h}`, `/ui/hosts/${h}`])]) {
      const res = await t.app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBeLessThan(500);
      if (url === '/hosts' || url === '/fleet' || url === '/') expect(res.statusCode).toBe(200);
    }
    // No run whose stats said failed was stored as succeeded under a reserved key.
    const runs = (await t.app.inject({ method: 'GET', url: '/runs?limit=500' })).json() as {
      runs: Array<{ stats: Record<string, unknown> | null }>;
    };
    for (const r of runs.runs) for (const key of RESERVED) expect(Object.hasOwn(r.stats ?? {}, key)).toBe(false);
  });
});
