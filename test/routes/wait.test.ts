import { afterEach, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import type { WaitAnswer } from '../../src/protocol/api.js';
import { eventually, quietFor } from '../eventually.js';
import { getJson, makeApp, post, runEvents, host, type TestApp } from '../helper.js';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

/** Resolves once `n` long-polls are parked, waiting. */
const parked = (n: number, timeout?: number) => eventually(() => expect(t!.app.ctx.waiters.size).toBe(n), { timeout });

/** Counts the lookups waiters make, to show they are woken, not polling. */
function countLookups(app: TestApp['app']): { calls: number } {
  const counter = { calls: 0 };
  const original = app.ctx.query.latestRunSince;
  app.ctx.query.latestRunSince = (...args) => {
    counter.calls++;
    return original(...args);
  };
  return counter;
}

describe('GET /hosts/:host/wait', () => {
  it('answers at once when the host already has a finished run', async () => {
    t = await makeApp();
    const r = runEvents();
    await post(t.app, { events: [r.started(), r.finished()] });
    const res = await getJson<WaitAnswer>(t.app, '/hosts/web-01/wait?timeout=10');
    expect(res.status).toBe(200);
    expect(res.body.finished).toBe(true);
    expect(res.body.run?.status).toBe('succeeded');
    expect(res.body.waited_ms).toBeLessThan(1000);
  });

  it('answers early when the run finishes during the wait, with its failure', async () => {
    t = await makeApp();
    const r = runEvents();
    await post(t.app, { events: [r.started(), r.task('ok')] });
    const waiting = getJson<WaitAnswer>(t.app, '/hosts/web-01/wait?timeout=20');
    await parked(1);
    await post(t.app, { events: [r.task('failed'), r.finished(1)] });
    const res = await waiting;
    expect(res.status).toBe(200);
    expect(res.body.run?.status).toBe('failed');
    expect(res.body.run?.tasks.failed).toBe(1);
    expect(res.body.waited_ms).toBeLessThan(5000);
    expect(t.app.ctx.waiters.size).toBe(0);
  });

  it('answers 202 with progress at the timeout', async () => {
    t = await makeApp();
    const r = runEvents();
    await post(t.app, { events: [r.started(), r.task('ok'), r.task('changed')] });
    const res = await getJson<WaitAnswer>(t.app, '/hosts/web-01/wait?timeout=0.5');
    expect(res.status).toBe(202);
    expect(res.body.finished).toBe(false);
    expect(res.body.run?.status).toBe('running');
    expect(res.body.run?.tasks.total).toBe(2);
    expect(res.body.waited_ms).toBeGreaterThanOrEqual(450);
  });

  it('ignores runs started before `since`, and waits for a host not known yet', async () => {
    t = await makeApp();
    const old = runEvents({ start: Date.parse('2026-01-01T00:00:00Z') });
    await post(t.app, { events: [old.started(), old.finished()] });
    const since = Math.floor(Date.parse('2026-02-01T00:00:00Z') / 1000);
    const timedOut = await getJson<WaitAnswer>(t.app, `/hosts/web-01/wait?timeout=0.3&since=${since}`);
    expect(timedOut.status).toBe(202);
    expect(timedOut.body.run).toBeNull();
    const newcomer = getJson<WaitAnswer>(t.app, '/hosts/new-vm/wait?timeout=20');
    await parked(1);
    const r = runEvents({ host: host({ hostname: 'new-vm', machine_id: undefined }) });
    await post(t.app, { events: [r.started(), r.finished()] });
    const res = await newcomer;
    expect(res.status).toBe(200);
    expect(res.body.host?.hostname).toBe('new-vm');
  });

  it('refuses a bad timeout', async () => {
    t = await makeApp();
    const res = await getJson<{ message: string }>(t.app, '/hosts/x/wait?timeout=forever');
    expect(res.status).toBe(400);
    expect(res.body.message).toMatch(/^timeout: /);
  });

  it('holds 500 concurrent waiters on a real socket without polling, and wakes them all', async () => {
    t = await makeApp();
    const lookups = countLookups(t.app);
    const address = await t.app.listen({ host: '127.0.0.1', port: 0 });
    const agent = new Agent({ connections: 600 });
    const r = runEvents();
    await post(t.app, r.started());
    const waits = Array.from({ length: 500 }, () =>
      request(`${address}/hosts/web-01/wait?timeout=30`, { dispatcher: agent }).then(async (res) => ({
        status: res.statusCode,
        body: (await res.body.json()) as WaitAnswer,
      })),
    );
    await parked(500, 10_000);
    const before = lookups.calls;
    await quietFor(1500);
    // Nobody looked at the database while nothing happened.
    expect(lookups.calls).toBe(before);
    await post(t.app, r.finished());
    const answers = await Promise.all(waits);
    expect(answers.every((a) => a.status === 200 && a.body.run?.status === 'succeeded')).toBe(true);
    // The bodies are cut side by side from shared buffers: each is whole, with its own waited_ms.
    const rest = answers.map(({ body: { waited_ms, ...others } }) => {
      expect(Number.isInteger(waited_ms) && waited_ms >= 0).toBe(true);
      return others;
    });
    for (const r of rest) expect(r).toEqual(rest[0]);
    // One lookup to start and one after the wake-up, per waiter.
    expect(lookups.calls).toBeLessThanOrEqual(1000);
    await agent.close();
  });

  it('answers waiting long-polls when the app closes', async () => {
    t = await makeApp();
    const address = await t.app.listen({ host: '127.0.0.1', port: 0 });
    const pending = request(`${address}/hosts/web-01/wait?timeout=60`);
    await parked(1);
    const started = Date.now();
    await t.app.close();
    const res = await pending;
    expect(res.statusCode).toBe(202);
    expect(Date.now() - started).toBeLessThan(5000);
    await res.body.dump();
  });
});
