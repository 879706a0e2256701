/**
 * The exact error bodies of the API: code and message for each kind of bad request, snapshotted
 * inline so that a changed message is a visible diff in review.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeApp, runEvents, type TestApp } from '../helper.js';

let t: TestApp;
beforeAll(async () => {
  t = await makeApp();
});
afterAll(async () => t.close());

type Req = { method: 'GET' | 'POST'; url: string; payload?: string; headers?: Record<string, string> };

/** Each request's answer, keyed by what was asked, with its status. */
async function answers(reqs: Req[]): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const [i, r] of reqs.entries()) {
    const res = await t.app.inject({ ...r, headers: { 'content-type': 'application/json', ...r.headers } });
    out[`${i} ${r.method} ${r.url.slice(0, 60)}`] = { status: res.statusCode, ...(res.json() as object) };
  }
  return out;
}

describe('error bodies', () => {
  it('of the query API', async () => {
    expect(
      await answers([
        { method: 'GET', url: '/runs?status=done' },
        { method: 'GET', url: '/runs?limit=0' },
        { method: 'GET', url: '/runs?since=last-week' },
        { method: 'GET', url: '/runs?cursor=abc' },
        { method: 'GET', url: '/runs?colour=red' },
        { method: 'GET', url: '/runs?since=2026-05-02T00:00:00Z&until=2026-05-01T00:00:00Z' },
        { method: 'GET', url: '/runs/not-a-uuid' },
        { method: 'GET', url: '/runs/00000000-0000-4000-8000-000000000000' },
        { method: 'GET', url: '/hosts?status=broken' },
        { method: 'GET', url: '/hosts/ghost' },
        { method: 'GET', url: '/hosts/x/wait?timeout=forever' },
      ]),
    ).toMatchInlineSnapshot(`
      {
        "0 GET /runs?status=done": {
          "code": "INVALID_QUERY",
          "error": "Bad Request",
          "message": "status: expected one of "running"|"succeeded"|"failed"|"stale"",
          "status": 400,
          "statusCode": 400,
        },
        "1 GET /runs?limit=0": {
          "code": "INVALID_QUERY",
          "error": "Bad Request",
          "message": "limit: Too small: expected number to be >=1",
          "status": 400,
          "statusCode": 400,
        },
        "10 GET /hosts/x/wait?timeout=forever": {
          "code": "INVALID_QUERY",
          "error": "Bad Request",
          "message": "timeout: expected number, received NaN",
          "status": 400,
          "statusCode": 400,
        },
        "2 GET /runs?since=last-week": {
          "code": "INVALID_QUERY",
          "error": "Bad Request",
          "message": "since: expected an ISO 8601 time or Unix seconds",
          "status": 400,
          "statusCode": 400,
        },
        "3 GET /runs?cursor=abc": {
          "code": "INVALID_QUERY",
          "error": "Bad Request",
          "message": "cursor: not a cursor this API handed out",
          "status": 400,
          "statusCode": 400,
        },
        "4 GET /runs?colour=red": {
          "code": "INVALID_QUERY",
          "error": "Bad Request",
          "message": "(body): Unrecognized key: "colour"",
          "status": 400,
          "statusCode": 400,
        },
        "5 GET /runs?since=2026-05-02T00:00:00Z&until=2026-05-01T00:00:00Z": {
          "code": "INVALID_QUERY",
          "error": "Bad Request",
          "message": "until: must not be before since",
          "status": 400,
          "statusCode": 400,
        },
        "6 GET /runs/not-a-uuid": {
          "code": "INVALID_PARAMS",
          "error": "Bad Request",
          "message": "id: expected a run id (UUID)",
          "status": 400,
          "statusCode": 400,
        },
        "7 GET /runs/00000000-0000-4000-8000-000000000000": {
          "code": "NOT_FOUND",
          "error": "Not Found",
          "message": "no run with id 00000000-0000-4000-8000-000000000000",
          "status": 404,
          "statusCode": 404,
        },
        "8 GET /hosts?status=broken": {
          "code": "INVALID_QUERY",
          "error": "Bad Request",
          "message": "status: expected one of "running"|"succeeded"|"failed"|"stale"|"never-reported"|"missing"|"booting"|"boot-failed"|"pull-failed"|"checked-in"|"out-of-sync"|"stopped"",
          "status": 400,
          "statusCode": 400,
        },
        "9 GET /hosts/ghost": {
          "code": "NOT_FOUND",
          "error": "Not Found",
          "message": "no host known by "ghost" (hostname, IP, machine-id, instance-id or VMID)",
          "status": 404,
          "statusCode": 404,
        },
      }
    `);
  });

  it('of ingest and cloud-init', async () => {
    const event = runEvents().started();
    expect(
      await answers([
        { method: 'POST', url: '/webhook', payload: '{"v":1,' },
        { method: 'POST', url: '/webhook', payload: '[]' },
        { method: 'POST', url: '/webhook', payload: JSON.stringify({ ...event, seq: 'one', extra: 1 }) },
        { method: 'POST', url: '/webhook', payload: JSON.stringify({ events: [] }) },
        { method: 'POST', url: '/cloud-init/vm-1/events', payload: JSON.stringify({ name: 'init', event_type: 'middle', timestamp: 1 }) },
        {
          method: 'POST',
          url: '/cloud-init/vm-1/phone-home',
          payload: 'hostname=a',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        },
        {
          method: 'POST',
          url: '/cloud-init/bad%20name/events',
          payload: JSON.stringify({ name: 'init', event_type: 'start', timestamp: 1 }),
        },
      ]),
    ).toMatchInlineSnapshot(`
      {
        "0 POST /webhook": {
          "code": "INVALID_JSON",
          "error": "Bad Request",
          "message": "request body is not valid JSON: Expected double-quoted property name in JSON at position 7",
          "status": 400,
          "statusCode": 400,
        },
        "1 POST /webhook": {
          "code": "INVALID_EVENT",
          "error": "Bad Request",
          "message": "(body): expected a JSON object: one event, or {"events": [...]}",
          "status": 400,
          "statusCode": 400,
        },
        "2 POST /webhook": {
          "code": "INVALID_EVENT",
          "error": "Bad Request",
          "message": "seq: expected number, received string; (body): Unrecognized key: "extra"",
          "status": 400,
          "statusCode": 400,
        },
        "3 POST /webhook": {
          "code": "INVALID_EVENT",
          "error": "Bad Request",
          "message": "events: a batch needs at least one event",
          "status": 400,
          "statusCode": 400,
        },
        "4 POST /cloud-init/vm-1/events": {
          "code": "INVALID_REPORT",
          "error": "Bad Request",
          "message": "event_type: expected one of "start"|"finish"",
          "status": 400,
          "statusCode": 400,
        },
        "5 POST /cloud-init/vm-1/phone-home": {
          "code": "INVALID_REPORT",
          "error": "Bad Request",
          "message": "instance_id: required, expected string",
          "status": 400,
          "statusCode": 400,
        },
        "6 POST /cloud-init/bad%20name/events": {
          "code": "INVALID_PARAMS",
          "error": "Bad Request",
          "message": "vm: expected a hostname, instance id, IP or VMID",
          "status": 400,
          "statusCode": 400,
        },
      }
    `);
  });
});
