import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeApp, post, getJson, runEvents, host, type TestApp } from '../helper.js';
import type { RunDetail, HostDetail } from '../../src/protocol/api.js';

let t: TestApp;
beforeEach(async () => {
  t = await makeApp();
});
afterEach(async () => {
  await t.close();
});

const count = (table: string) => (t.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;

describe('POST /webhook ingest', () => {
  it('stores each event kind and derives the run', async () => {
    const r = runEvents();
    for (const e of [r.started(), r.task('ok'), r.task('changed'), r.task('skipped'), r.finished()]) {
      const res = await post(t.app, e);
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({ accepted: 1, stored: 1, duplicates: 0 });
    }
    expect(count('events')).toBe(5);
    const run = await getJson<RunDetail>(t.app, `/runs/${r.runId}`);
    expect(run.status).toBe(200);
    expect(run.body.status).toBe('succeeded');
    expect(run.body.commit).toBe('abc1234');
    expect(run.body.tasks).toMatchObject({ total: 3, ok: 1, changed: 1, skipped: 1 });
    expect(run.body.task_results.map((x) => x.status)).toEqual(['ok', 'changed', 'skipped']);
    expect(run.body.stats?.localhost?.ok).toBe(3);
  });

  it('stores a batch in one delivery and reports each event', async () => {
    const r = runEvents();
    const events = [r.started(), r.task(), r.task(), r.finished()];
    const res = await post(t.app, { events });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ accepted: 4, stored: 4, duplicates: 0 });
    expect(body.results.map((x: { event_id: string }) => x.event_id)).toEqual(events.map((e) => e.event_id));
    expect(count('events')).toBe(4);
  });

  it('acknowledges a redelivery as duplicate and changes nothing', async () => {
    const r = runEvents();
    const events = [r.started(), r.task('changed')];
    await post(t.app, { events });
    const before = await getJson<RunDetail>(t.app, `/runs/${r.runId}`);
    const again = await post(t.app, { events: [...events, r.task('ok')] });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ accepted: 3, stored: 1, duplicates: 2 });
    const single = await post(t.app, events[1]);
    expect(single.json().results[0].outcome).toBe('duplicate');
    const after = await getJson<RunDetail>(t.app, `/runs/${r.runId}`);
    expect(after.body.tasks.total).toBe(before.body.tasks.total + 1);
    expect(after.body.tasks.changed).toBe(1);
    expect(count('events')).toBe(3);
  });

  it('handles the same event twice within one batch', async () => {
    const r = runEvents();
    const e = r.started();
    const res = await post(t.app, { events: [e, e] });
    expect(res.json().results.map((x: { outcome: string }) => x.outcome)).toEqual(['stored', 'duplicate']);
  });

  it("stores a VM's events even when another VM sent their ids first", async () => {
    const victim = runEvents({ host: host({ hostname: 'web-02', machine_id: '0badcafe0badcafe0badcafe0badcafe' }) });
    const events = [victim.started(), victim.task('changed'), victim.finished()];
    // Another VM, its own run, the victim's ids: stored as its own events, not the victim's.
    const squatter = runEvents();
    const copies = events.map((e, i) => ({ ...(i === 0 ? squatter.started() : squatter.task()), event_id: e.event_id }));
    expect((await post(t.app, { events: copies })).json()).toMatchObject({ stored: 3, duplicates: 0 });
    const res = await post(t.app, { events });
    expect(res.json()).toMatchObject({ accepted: 3, stored: 3, duplicates: 0 });
    const run = await getJson<RunDetail>(t.app, `/runs/${victim.runId}`);
    expect(run.body).toMatchObject({ status: 'succeeded', hostname: 'web-02', tasks: { total: 1, changed: 1 } });
    // Its own redelivery is still a duplicate.
    expect((await post(t.app, { events })).json()).toMatchObject({ stored: 0, duplicates: 3 });
  });

  it('accepts events late and out of order and orders tasks by seq', async () => {
    const r = runEvents();
    const started = r.started();
    const t1 = r.task('ok', 'first');
    const t2 = r.task('changed', 'second');
    const fin = r.finished();
    for (const e of [fin, t2, started, t1]) expect((await post(t.app, e)).statusCode).toBe(200);
    const run = await getJson<RunDetail>(t.app, `/runs/${r.runId}`);
    expect(run.body.status).toBe('succeeded');
    expect(run.body.playbook).toBe('site.yml');
    expect(run.body.started_at).toBe(started.time);
    expect(run.body.task_results.map((x) => x.task)).toEqual(['first', 'second']);
  });

  it('parses JSON sent without or with a wrong Content-Type', async () => {
    const r = runEvents();
    const none = await t.app.inject({ method: 'POST', url: '/webhook', payload: JSON.stringify(r.started()) });
    expect(none.statusCode).toBe(200);
    const form = await t.app.inject({
      method: 'POST',
      url: '/webhook',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: JSON.stringify(r.task()),
    });
    expect(form.statusCode).toBe(200);
    const text = await t.app.inject({
      method: 'POST',
      url: '/webhook',
      headers: { 'content-type': 'text/plain' },
      payload: JSON.stringify(r.task()),
    });
    expect(text.statusCode).toBe(200);
    expect(count('events')).toBe(3);
  });

  it('merges identities: a host found by machine-id keeps one row', async () => {
    const a = runEvents({ host: { hostname: 'old-name', machine_id: '0123456789abcdef0123456789abcdef' } });
    await post(t.app, a.started());
    const b = runEvents({ host: { hostname: 'new-name', machine_id: '0123456789abcdef0123456789abcdef', vmid: 140, ips: ['10.9.0.4'] } });
    await post(t.app, b.started());
    expect(count('hosts')).toBe(1);
    const h = await getJson<HostDetail>(t.app, '/hosts/10.9.0.4');
    expect(h.body.hostname).toBe('new-name');
    expect(h.body.runs).toHaveLength(2);
  });
});

describe('POST /webhook rejects bad input with a 4xx that says what was wrong', () => {
  const cases: Array<[string, () => { payload: string; headers?: Record<string, string> }, number, RegExp]> = [
    ['malformed JSON', () => ({ payload: '{"v":1,' }), 400, /not valid JSON/],
    ['empty body', () => ({ payload: '' }), 400, /empty|JSON/],
    ['a JSON array', () => ({ payload: '[]' }), 400, /expected a JSON object/],
    ['a JSON string', () => ({ payload: '"hello"' }), 400, /expected a JSON object/],
    ['wrong type of seq', () => ({ payload: JSON.stringify({ ...runEvents().started(), seq: 'one' }) }), 400, /^seq: expected number/],
    [
      'missing run_id',
      () => {
        const { run_id: _omit, ...rest } = runEvents().started();
        return { payload: JSON.stringify(rest) };
      },
      400,
      /^run_id: required/,
    ],
    [
      'bad task status',
      () => ({ payload: JSON.stringify({ ...runEvents().task(), data: { ...runEvents().task().data, status: 'done' } }) }),
      400,
      /^data\.status: expected one of/,
    ],
    ['unknown kind', () => ({ payload: JSON.stringify({ ...runEvents().started(), kind: 'bogus' }) }), 400, /kind/],
    ['unknown field', () => ({ payload: JSON.stringify({ ...runEvents().started(), extra: 1 }) }), 400, /Unrecognized key/],
    [
      'bad event in a batch',
      () => ({ payload: JSON.stringify({ events: [runEvents().started(), { ...runEvents().task(), event_id: 'nope' }] }) }),
      400,
      /^events\[1\]\.event_id: expected a UUID/,
    ],
    ['empty batch', () => ({ payload: JSON.stringify({ events: [] }) }), 400, /at least one event/],
    ['bad time', () => ({ payload: JSON.stringify({ ...runEvents().started(), time: 'yesterday' }) }), 400, /^time: expected an ISO 8601/],
    [
      'bad machine id',
      () => ({ payload: JSON.stringify({ ...runEvents().started(), host: host({ machine_id: 'XYZ' }) }) }),
      400,
      /^host\.machine_id/,
    ],
    [
      'malformed Content-Type',
      () => ({ payload: JSON.stringify(runEvents().started()), headers: { 'content-type': ';;;' } }),
      415,
      /unsupported Content-Type/,
    ],
    ['oversized body', () => ({ payload: JSON.stringify({ pad: 'x'.repeat(2 * 1024 * 1024) }) }), 413, /larger than the limit/],
  ];

  for (const [name, make, status, message] of cases) {
    it(`${name} → ${status}`, async () => {
      const ok = runEvents();
      await post(t.app, ok.started());
      const { payload, headers } = make();
      const res = await t.app.inject({
        method: 'POST',
        url: '/webhook',
        headers: { 'content-type': 'application/json', ...headers },
        payload,
      });
      expect(res.statusCode).toBe(status);
      const body = res.json();
      expect(body.statusCode).toBe(status);
      expect(typeof body.code).toBe('string');
      expect(body.message).toMatch(message);
      // The earlier, valid event is still there.
      expect(count('events')).toBe(1);
    });
  }

  it('stores nothing of a batch with one invalid event', async () => {
    const r = runEvents();
    const res = await post(t.app, { events: [r.started(), r.task(), { ...r.task(), seq: -1 }] });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchInlineSnapshot(`
      {
        "code": "INVALID_EVENT",
        "error": "Bad Request",
        "message": "events[2].seq: Too small: expected number to be >=0",
        "statusCode": 400,
      }
    `);
    expect(count('events')).toBe(0);
  });

  it('answers unknown routes with the same error shape', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/nope' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchInlineSnapshot(`
      {
        "code": "NOT_FOUND",
        "error": "Not Found",
        "message": "no route for GET /nope",
        "statusCode": 404,
      }
    `);
  });

  it('counts rejections by reason in /metrics', async () => {
    await post(t.app, '{bad');
    await post(t.app, { v: 2 });
    const metrics = (await t.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/webhook_deliveries_rejected_total\{reason="invalid_json"\} 1/);
    expect(metrics).toMatch(/webhook_deliveries_rejected_total\{reason="invalid_event"\} 1/);
  });
});
