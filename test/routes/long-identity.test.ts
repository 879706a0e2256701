/** Identities as long as the protocol allows (a 253-character hostname) fit in every path. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeApp, post, runEvents, host, type TestApp } from '../helper.js';

let t: TestApp;
beforeAll(async () => {
  t = await makeApp();
});
afterAll(async () => t.close());

// Four labels of at most 63 characters: the longest name DNS allows.
const longest = ['a'.repeat(63), 'b'.repeat(63), 'c'.repeat(63), 'd'.repeat(61)].join('.');

describe('a 253-character identity', () => {
  it('is accepted in event bodies and found under /hosts/:host and its long-poll', async () => {
    expect(longest).toHaveLength(253);
    const r = runEvents({ host: host({ hostname: longest, machine_id: undefined }) });
    expect((await post(t.app, { events: [r.started(), r.finished()] })).statusCode).toBe(200);
    const found = await t.app.inject({ method: 'GET', url: `/hosts/${longest}` });
    expect(found.statusCode).toBe(200);
    expect(found.json().hostname).toBe(longest);
    const wait = await t.app.inject({ method: 'GET', url: `/hosts/${longest}/wait?timeout=0` });
    expect(wait.statusCode).toBe(200);
    expect((await t.app.inject({ method: 'GET', url: `/ui/hosts/${longest}` })).statusCode).toBe(200);
  });

  it('is accepted by the cloud-init routes', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: `/cloud-init/${longest}/events`,
      payload: { name: 'init-local', event_type: 'start', timestamp: 1_700_000_000 },
    });
    expect(res.statusCode).toBe(200);
  });

  it('one character longer is a 400 naming the parameter, not a 414', async () => {
    const res = await t.app.inject({ method: 'GET', url: `/hosts/${longest}x` });
    expect(res.json()).toMatchInlineSnapshot(`
      {
        "code": "INVALID_PARAMS",
        "error": "Bad Request",
        "message": "host: Too big: expected string to have <=253 characters",
        "statusCode": 400,
      }
    `);
  });
});
