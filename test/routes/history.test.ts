/** Outcomes, drift and history through the API: filters, GET /changes, GET /runs/:id/diff, GET /tasks. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fleetSchema, runDetailSchema, runsPageSchema } from '../../src/protocol/api.js';
import { changesPageSchema, runDiffSchema, tasksAnswerSchema } from '../../src/protocol/history.js';
import type { TaskStatus } from '../../src/protocol/events.js';
import { getJson, host, makeApp, post, runEvents, type TestApp } from '../helper.js';

let t: TestApp;
const HOUR = 3_600_000;
const T0 = Date.parse('2026-06-01T00:00:00Z');
const web = host({ hostname: 'web-01', machine_id: 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb1' });
const db = host({ hostname: 'db-01', machine_id: 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb2' });
const runs: string[] = [];
/** The receiver's clock: each run arrives a second after its start, by the VM's clock. */
let now = T0;

async function run(h: typeof web, n: number, commit: string, tasks: Array<[string, TaskStatus]>, check = false): Promise<string> {
  const r = runEvents({ host: h, start: T0 + n * HOUR });
  now = T0 + n * HOUR + 1000;
  const events = [r.started({ commit, check_mode: check }), ...tasks.map(([name, s]) => r.task(s, name)), r.finished()];
  expect((await post(t.app, { events })).statusCode).toBe(200);
  runs.push(r.runId);
  return r.runId;
}

beforeAll(async () => {
  t = await makeApp({ staleAfterMs: 3600_000 * 24 * 365 * 10 }, () => now);
  const a = 'aaaaaaa1';
  await run(web, 0, a, [
    ['file', 'changed'],
    ['cmd', 'changed'],
  ]);
  await run(web, 1, a, [
    ['file', 'ok'],
    ['cmd', 'changed'],
  ]);
  await run(web, 2, a, [
    ['file', 'changed'],
    ['cmd', 'changed'],
  ]);
  await run(db, 3, a, [
    ['file', 'ok'],
    ['cmd', 'ok'],
  ]);
  await run(
    db,
    4,
    a,
    [
      ['file', 'changed'],
      ['cmd', 'ok'],
    ],
    true,
  );
  now = T0 + 10 * HOUR;
});
afterAll(async () => t.close());

describe('outcomes', () => {
  it('are in the run JSON and filter GET /runs and GET /hosts', async () => {
    const changed = runsPageSchema.parse((await getJson(t.app, '/runs?outcome=changed')).body);
    expect(changed.runs.map((r) => r.run_id)).toEqual([runs[2], runs[1], runs[0]]);
    const pending = runsPageSchema.parse((await getJson(t.app, '/runs?outcome=pending')).body);
    expect(pending.runs.map((r) => [r.run_id, r.outcome])).toEqual([[runs[4], 'pending']]);
    const fleet = fleetSchema.parse((await getJson(t.app, '/hosts?outcome=pending')).body);
    expect(fleet.hosts.map((h) => h.hostname)).toEqual(['db-01']);
    expect(fleet.total).toBe(2);
    const bad = await getJson(t.app, '/runs?outcome=drifted');
    expect(bad.status).toBe(400);
  });

  it('show drift counts on runs and hosts, and each task its classification', async () => {
    const run = runDetailSchema.parse((await getJson(t.app, `/runs/${runs[2]}`)).body);
    expect(run.drift).toEqual({ intentional: 0, corrective: 1, repeated: 1, other: 0 });
    expect(run.task_results.map((r) => [r.task, r.occurrence, r.change])).toEqual([
      ['file', 1, 'corrective'],
      ['cmd', 1, 'repeated'],
    ]);
    const fleet = fleetSchema.parse((await getJson(t.app, '/hosts')).body);
    const w = fleet.hosts.find((h) => h.hostname === 'web-01')!;
    expect(w.drift).toEqual({
      intentional: 2,
      corrective: 1,
      repeated: 1,
      other: 1,
      last_corrective_at: new Date(T0 + 2 * HOUR + 100).toISOString(),
    });
    expect(w.latest_run?.drift.corrective).toBe(1);
  });
});

describe('GET /changes', () => {
  it('lists every changed task, newest first, filtered and paged', async () => {
    const all = changesPageSchema.parse((await getJson(t.app, '/changes')).body);
    expect(all.changes.map((c) => [c.hostname, c.task, c.change])).toEqual([
      ['db-01', 'file', 'corrective'],
      ['web-01', 'cmd', 'repeated'],
      ['web-01', 'file', 'corrective'],
      ['web-01', 'cmd', 'other'],
      ['web-01', 'cmd', 'intentional'],
      ['web-01', 'file', 'intentional'],
    ]);
    const corrective = changesPageSchema.parse((await getJson(t.app, '/changes?change=corrective&host=web-01')).body);
    expect(corrective.changes.map((c) => c.run_id)).toEqual([runs[2]]);
    const since = changesPageSchema.parse((await getJson(t.app, `/changes?since=${new Date(T0 + 2 * HOUR).toISOString()}`)).body);
    expect(since.changes).toHaveLength(3);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page = changesPageSchema.parse((await getJson(t.app, `/changes?limit=4${cursor ? `&cursor=${cursor}` : ''}`)).body);
      seen.push(...page.changes.map((c) => `${c.run_id}/${c.task}`));
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen).toEqual(all.changes.map((c) => `${c.run_id}/${c.task}`));
    expect((await getJson(t.app, '/changes?cursor=nope')).status).toBe(400);
  });

  it("orders by when the receiver recorded a change, so a VM's clock cannot put it first", async () => {
    const other = await makeApp({}, () => now);
    try {
      const skewed = host({ hostname: 'skewed-01', machine_id: 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb3' });
      const send = async (h: typeof web, vmTime: number, at: number) => {
        const r = runEvents({ host: h, start: vmTime });
        now = at;
        expect((await post(other.app, { events: [r.started(), r.task('changed', 'file'), r.finished()] })).statusCode).toBe(200);
      };
      // A VM whose clock says 2099 reports first; an honest one an hour later.
      await send(skewed, Date.parse('2099-01-01T00:00:00Z'), T0);
      await send(web, T0 + HOUR, T0 + HOUR);
      const page = changesPageSchema.parse((await getJson(other.app, '/changes')).body);
      expect(page.changes.map((c) => [c.hostname, c.time, c.recorded_at])).toEqual([
        ['web-01', new Date(T0 + HOUR + 100).toISOString(), new Date(T0 + HOUR).toISOString()],
        ['skewed-01', new Date(Date.parse('2099-01-01T00:00:00Z') + 100).toISOString(), new Date(T0).toISOString()],
      ]);
      // since and until are on the same clock as the order.
      const late = changesPageSchema.parse((await getJson(other.app, `/changes?since=${new Date(T0 + 1).toISOString()}`)).body);
      expect(late.changes.map((c) => c.hostname)).toEqual(['web-01']);
      const early = changesPageSchema.parse((await getJson(other.app, `/changes?until=${new Date(T0 + 1).toISOString()}`)).body);
      expect(early.changes.map((c) => c.hostname)).toEqual(['skewed-01']);
    } finally {
      await other.close();
    }
  });
});

describe('GET /runs/:id/diff', () => {
  it("compares with the host's previous run, or the run asked for", async () => {
    const d = runDiffSchema.parse((await getJson(t.app, `/runs/${runs[2]}/diff`)).body);
    expect(d).toEqual({
      run_id: runs[2],
      against: runs[1],
      commit: { from: 'aaaaaaa1', to: 'aaaaaaa1', changed: false },
      status_changed: [{ play: 'Configure', task: 'file', occurrence: 1, from: 'ok', to: 'changed' }],
      new: [],
      gone: [],
    });
    const first = runDiffSchema.parse((await getJson(t.app, `/runs/${runs[0]}/diff`)).body);
    expect(first).toMatchObject({ against: null, new: [], gone: [] });
    const missing = await getJson<{ code: string }>(t.app, `/runs/${runs[0]}/diff?against=00000000-0000-4000-8000-000000000000`);
    expect(missing.status).toBe(404);
  });
});

describe('GET /tasks', () => {
  it('counts each task across the fleet with its slowest hosts', async () => {
    const a = tasksAnswerSchema.parse((await getJson(t.app, '/tasks')).body);
    const cmd = a.tasks.find((x) => x.task === 'cmd')!;
    expect(cmd).toMatchObject({ results: 5, ok: 2, changed: 3, failed: 0 });
    expect(cmd.slowest).toHaveLength(3);
    const window = tasksAnswerSchema.parse((await getJson(t.app, `/tasks?since=${new Date(T0 + 3 * HOUR).toISOString()}`)).body);
    expect(window.tasks.find((x) => x.task === 'cmd')).toMatchObject({ results: 2, ok: 2 });
  });
});

describe('pages', () => {
  it('show what changed, drift at a glance and the run diff', async () => {
    const changes = await t.app.inject({ url: '/ui/changes?change=corrective' });
    expect(changes.statusCode).toBe(200);
    expect(changes.body).toContain('What changed in the last 24 hours');
    expect(changes.body.match(/class="badge c-corrective"/g)).toHaveLength(2);
    expect(changes.body).not.toContain('c-repeated"');
    const fleet = await t.app.inject({ url: '/?outcome=pending' });
    expect(fleet.body).toContain('db-01');
    expect(fleet.body).not.toContain('>web-01<');
    expect(fleet.body).toContain('<span class="badge o-pending"');
    const runPage = await t.app.inject({ url: `/ui/runs/${runs[2]}` });
    expect(runPage.body).toContain('Compared with');
    expect(runPage.body).toMatch(/file.*<span class="badge t-ok">ok<\/span> → <span class="badge t-changed">changed<\/span>/);
    expect(runPage.body).toContain('<span class="badge c-repeated"');
    const hostPage = await t.app.inject({ url: '/ui/hosts/web-01' });
    expect(hostPage.body).toMatch(/Drift since first seen.*<span class="drift-n">1<\/span> corrective/s);
  });
});

describe('metrics', () => {
  it('count hosts by latest outcome and corrective changes by host', async () => {
    const text = (await t.app.inject({ url: '/metrics' })).body;
    expect(text).toContain('webhook_hosts_latest_outcome{outcome="pending"} 1');
    expect(text).toContain('webhook_hosts_latest_outcome{outcome="changed"} 1');
    expect(text).toContain('webhook_hosts_latest_outcome{outcome="unchanged"} 0');
    expect(text).toContain('webhook_drift_corrections_total{host="web-01"} 1');
    expect(text).toContain('webhook_drift_corrections_total{host="db-01"} 1');
  });
});
