/** Values at and beyond what a date or a plain object can hold: refused at ingest, never fatal on read. */
import { afterEach, describe, expect, it } from 'vitest';
import { getJson, makeApp, post, runEvents, type TestApp } from '../helper.js';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const report = (vm: string, timestamp: number) =>
  t!.app.inject({
    method: 'POST',
    url: `/cloud-init/${vm}/events`,
    payload: JSON.stringify({ name: 'init-local', event_type: 'start', origin: 'cloudinit', timestamp }),
  });

describe('times out of range', () => {
  it('refuses cloud-init timestamps beyond a date, and creates no host', async () => {
    t = await makeApp();
    for (const ts of [1e13, 1e300, -1, 4102444800]) {
      const res = await report('vm-x', ts);
      expect(res.statusCode, String(ts)).toBe(400);
      expect(res.json()).toMatchObject({
        code: 'INVALID_REPORT',
        message: 'timestamp: expected Unix seconds between 1970-01-01 and 2100-01-01',
      });
    }
    expect((await report('vm-x', 1764140000)).statusCode).toBe(200);
    expect((await getJson(t.app, '/hosts/vm-x')).status).toBe(200);
  });

  it('refuses event times after 2100 and query times beyond a date', async () => {
    t = await makeApp();
    const r = runEvents();
    const late = { ...r.started(), time: '2200-01-01T00:00:00Z' };
    const res = await post(t.app, late);
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toBe('time: expected a time between 1970-01-01 and 2100-01-01');
    const q = await getJson<{ message: string }>(t.app, '/runs?since=10000000000000');
    expect(q.status).toBe(400);
    expect(q.body.message).toBe('since: expected a time between 1970-01-01 and 2100-01-01');
  });

  it('reads a host whose stored times are beyond a date (written before the checks existed)', async () => {
    t = await makeApp();
    expect((await report('vm-old', 1764140000)).statusCode).toBe(200);
    t.db.prepare('UPDATE cloud_init_events SET time = 1e16').run();
    expect((await getJson(t.app, '/hosts/vm-old')).status).toBe(200);
    expect((await t.app.inject({ method: 'GET', url: '/ui/hosts/vm-old' })).statusCode).toBe(200);
  });
});

describe('keys objects inherit', () => {
  it('refuses stats for a host named __proto__ or constructor, so failed tasks cannot vanish', async () => {
    t = await makeApp();
    for (const name of ['__proto__', 'constructor', 'prototype']) {
      const r = runEvents();
      const finished = r.finished(3);
      const body = JSON.stringify({ events: [r.started(), finished] }).replace('"localhost":', `"${name}":`);
      const res = await post(t.app, body);
      expect(res.statusCode, name).toBe(400);
      expect(res.json().message).toContain(`is a reserved name (__proto__, constructor, prototype)`);
    }
  });
});
