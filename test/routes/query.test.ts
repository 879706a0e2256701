import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fleetSchema, type Fleet, type HostDetail, type RunsPage } from '../../src/protocol/api.js';
import { getJson, makeApp, post, runEvents, type TestApp } from '../helper.js';

let t: TestApp;
const base = Date.parse('2026-05-01T00:00:00Z');
const hosts = [
  {
    hostname: 'web-01',
    machine_id: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1',
    instance_id: 'iid-web-01',
    vmid: 101,
    ips: ['10.1.0.11', 'fd00::11'],
  },
  { hostname: 'web-02', machine_id: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa2', instance_id: 'iid-web-02', vmid: 102, ips: ['10.1.0.12'] },
  { hostname: 'db-01', machine_id: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa3', vmid: 103, ips: ['10.1.0.13'] },
];
const runIds: string[] = [];

beforeAll(async () => {
  t = await makeApp({ staleAfterMs: 3600_000 * 24 * 365 * 10 });
  // 3 hosts × 5 runs, one hour apart; every third run fails, the last run of db-01 still running.
  for (let i = 0; i < 15; i++) {
    const h = hosts[i % 3]!;
    const r = runEvents({ host: h, start: base + i * 3600_000 });
    runIds.push(r.runId);
    const events = [r.started(), r.task('ok'), r.task(i % 3 === 0 ? 'failed' : 'changed')];
    if (i !== 14) events.push(r.finished(i % 3 === 0 ? 1 : 0));
    expect((await post(t.app, { events })).statusCode).toBe(200);
  }
});
afterAll(async () => t.close());

describe('GET /runs', () => {
  it('lists newest first and pages with a cursor without gaps or repeats', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const url: string = `/runs?limit=4${cursor ? `&cursor=${cursor}` : ''}`;
      const page: { status: number; body: RunsPage } = await getJson<RunsPage>(t.app, url);
      expect(page.status).toBe(200);
      expect(page.body.runs.length).toBeLessThanOrEqual(4);
      seen.push(...page.body.runs.map((r) => r.run_id));
      cursor = page.body.next_cursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(4);
    expect(seen).toEqual([...runIds].reverse());
  });

  it('filters by host (any identity), status, since and until', async () => {
    const byHost = await getJson<RunsPage>(t.app, '/runs?host=10.1.0.12');
    expect(byHost.body.runs.map((r) => r.hostname)).toEqual(Array(5).fill('web-02'));
    const byVmid = await getJson<RunsPage>(t.app, '/runs?host=103');
    expect(byVmid.body.runs).toHaveLength(5);
    const failed = await getJson<RunsPage>(t.app, '/runs?status=failed');
    expect(failed.body.runs.map((r) => r.run_id).sort()).toEqual([0, 3, 6, 9, 12].map((i) => runIds[i]).sort());
    const running = await getJson<RunsPage>(t.app, '/runs?status=running');
    expect(running.body.runs.map((r) => r.run_id)).toEqual([runIds[14]]);
    const window = await getJson<RunsPage>(
      t.app,
      `/runs?since=${new Date(base + 2 * 3600_000).toISOString()}&until=${(base + 5 * 3600_000) / 1000}`,
    );
    expect(window.body.runs.map((r) => r.run_id)).toEqual([4, 3, 2].map((i) => runIds[i]));
    const combined = await getJson<RunsPage>(t.app, `/runs?host=web-01&status=failed&limit=1`);
    expect(combined.body.runs).toHaveLength(1);
    expect(combined.body.next_cursor).not.toBeNull();
    const unknown = await getJson<RunsPage>(t.app, '/runs?host=nobody');
    expect(unknown.body.runs).toEqual([]);
  });

  it('refuses bad filters with a message naming the parameter', async () => {
    const cases: Array<[string, RegExp]> = [
      ['/runs?status=done', /^status: expected one of/],
      ['/runs?limit=0', /^limit: Too small/],
      ['/runs?since=last-week', /^since: expected an ISO 8601 time or Unix seconds/],
      ['/runs?cursor=abc', /^cursor: not a cursor/],
      ['/runs?colour=red', /Unrecognized key/],
      ['/runs?since=2026-05-02T00:00:00Z&until=2026-05-01T00:00:00Z', /^until: must not be before since/],
      ['/runs/not-a-uuid', /^id: expected a run id/],
    ];
    for (const [url, message] of cases) {
      const res = await getJson<{ statusCode: number; message: string }>(t.app, url);
      expect(res.status, url).toBe(400);
      expect(res.body.message, url).toMatch(message);
    }
    const missing = await getJson<{ code: string }>(t.app, '/runs/00000000-0000-4000-8000-000000000000');
    expect(missing.status).toBe(404);
  });
});

describe('GET /hosts', () => {
  it('summarises the fleet and filters by status and search', async () => {
    const fleet = await getJson<Fleet>(t.app, '/hosts');
    expect(fleet.body.total).toBe(3);
    expect(fleet.body.by_status).toMatchObject({ running: 1, succeeded: 1, failed: 1 });
    const failed = await getJson<Fleet>(t.app, '/hosts?status=failed');
    expect(failed.body.hosts.map((h) => h.hostname)).toEqual(['web-01']);
    const search = await getJson<Fleet>(t.app, '/hosts?q=web');
    expect(search.body.hosts.map((h) => h.hostname)).toEqual(['web-01', 'web-02']);
  });

  it('answers in the documented shape', async () => {
    for (const url of ['/hosts', '/hosts?status=failed', '/hosts?q=10.1.0.12']) {
      const res = await getJson<Fleet>(t.app, url);
      expect(fleetSchema.parse(res.body)).toEqual(res.body);
    }
  });

  it('finds a host by each of its identities', async () => {
    for (const id of ['web-01', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1', 'iid-web-01', '101', '10.1.0.11', 'fd00::11']) {
      const res = await getJson<HostDetail>(t.app, `/hosts/${encodeURIComponent(id)}`);
      expect(res.status, id).toBe(200);
      expect(res.body.hostname).toBe('web-01');
      expect(res.body.latest_run?.run_id).toBe(runIds[12]);
      expect(res.body.runs).toHaveLength(5);
    }
    const none = await getJson<{ message: string }>(t.app, '/hosts/ghost');
    expect(none.status).toBe(404);
    expect(none.body.message).toMatch(/no host known by "ghost"/);
  });
});
