import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { FleetAnswer, FleetWaitAnswer } from '../../src/protocol/fleet.js';
import type { HostSummary } from '../../src/protocol/api.js';
import { getJson, host, makeApp, post, runEvents, type TestApp } from '../helper.js';

const ADMIN = 'admin-token-0123456789abcdef';
const auth = { authorization: `Bearer ${ADMIN}` };

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

let now = Date.parse('2026-12-01T10:00:00Z');
const clock = () => now;

async function start(overrides = {}) {
  now = Date.parse('2026-12-01T10:00:00Z');
  t = await makeApp({ adminToken: ADMIN, expectGraceMs: 600_000, ...overrides }, clock);
  return t;
}

const put = (vms: unknown, headers: Record<string, string> = auth) =>
  t!.app.inject({ method: 'PUT', url: '/fleet', headers: { 'content-type': 'application/json', ...headers }, payload: JSON.stringify({ vms }) });

const checkin = (h: ReturnType<typeof host>, data: Record<string, unknown>) => ({
  v: 1,
  kind: 'checkin',
  event_id: randomUUID(),
  run_id: randomUUID(),
  seq: 0,
  time: new Date(now).toISOString(),
  host: h,
  data: { exit_code: 0, duration_ms: 1200, ...data },
});

const cloudInit = (vm: string, result: 'SUCCESS' | 'FAIL', name = 'modules-final/config-scripts-user') =>
  t!.app.inject({
    method: 'POST',
    url: `/cloud-init/${vm}/events`,
    payload: JSON.stringify({ name, event_type: 'finish', origin: 'cloudinit', timestamp: now / 1000, result, description: 'running modules for final' }),
  });

const fleet = async () => (await getJson<FleetAnswer>(t!.app, '/fleet')).body;

describe('PUT /fleet', () => {
  it('declares the expected VMs; every one is never-reported, then missing after the grace', async () => {
    await start();
    const res = await put([{ name: 'web-01', vmid: 101, ip: '10.1.0.21', labels: { role: 'web' } }, { name: 'db-01' }]);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ expected: 2, reported: 0, coverage: 0 });
    let f = await fleet();
    expect(f.vms.map((v) => [v.name, v.status, v.sources])).toEqual([
      ['db-01', 'never-reported', ['declared']],
      ['web-01', 'never-reported', ['declared']],
    ]);
    expect(f.vms[1]).toMatchObject({ vmid: 101, ip: '10.1.0.21', labels: { role: 'web' } });
    now += 600_000;
    f = await fleet();
    expect(f.by_status.missing).toBe(2);
    expect(f.vms[0]!.next_step).toMatch(/cloud-init status --long/);
    // The placeholders are hosts too: the API and lookups know them.
    const hosts = await getJson<{ hosts: HostSummary[] }>(t!.app, '/hosts?status=missing');
    expect(hosts.body.hosts.map((h) => h.hostname)).toEqual(['db-01', 'web-01']);
    expect((await getJson<HostSummary>(t!.app, '/hosts/10.1.0.21')).body.status).toBe('missing');
  });

  it('binds a VM reporting later to its placeholder by VMID, hostname or IP, and counts coverage', async () => {
    await start();
    await put([{ name: 'web-01', vmid: 101 }, { name: 'web-02' }, { name: 'web-03' }, { name: 'web-04' }]);
    const run = runEvents({ host: host({ hostname: 'web-01.example', vmid: 101 }) });
    expect((await post(t!.app, { events: [run.started(), run.task('ok'), run.finished()] })).statusCode).toBe(200);
    await post(t!.app, checkin(host({ hostname: 'web-02', machine_id: 'a'.repeat(32) }), { result: 'skipped', interval_seconds: 1800 }));
    await post(t!.app, checkin(host({ hostname: 'web-03', machine_id: 'b'.repeat(32) }), { result: 'pull_failed', exit_code: 1, error: "fatal: repository 'https://git.example/x.git/' not found\n" }));
    await cloudInit('web-04', 'FAIL');
    const f = await fleet();
    expect(f.vms.map((v) => [v.name, v.status])).toEqual([
      ['web-01', 'succeeded'],
      ['web-02', 'checked-in'],
      ['web-03', 'pull-failed'],
      ['web-04', 'boot-failed'],
    ]);
    expect(f).toMatchObject({ expected: 4, reported: 2, coverage: 0.5 });
    expect(f.vms[2]!.summary).toContain("fatal: repository 'https://git.example/x.git/' not found");
    expect(f.vms[3]!.summary).toContain('modules-final/config-scripts-user');
    // One host per VM: the reports merged into the placeholders.
    const hosts = await getJson<{ total: number }>(t!.app, '/hosts');
    expect(hosts.body.total).toBe(4);
  });

  it('replaces the declared set: VMs left out are no longer expected, their history stays', async () => {
    await start();
    await put([{ name: 'web-01' }, { name: 'web-02' }]);
    const run = runEvents({ host: host({ hostname: 'web-01' }) });
    await post(t!.app, { events: [run.started(), run.finished()] });
    await put([{ name: 'web-03' }]);
    const f = await fleet();
    expect(f.vms.map((v) => v.name)).toEqual(['web-03']);
    const hosts = await getJson<{ hosts: HostSummary[] }>(t!.app, '/hosts');
    // web-01 reported and keeps its record; web-02's placeholder, never heard from, is gone.
    expect(hosts.body.hosts.map((h) => h.hostname)).toEqual(['web-01', 'web-03']);
  });

  it('refuses bad input with a 4xx that names the problem, and changes nothing', async () => {
    await start();
    await put([{ name: 'keep-01' }]);
    const cases: [unknown, number, RegExp][] = [
      [[{ name: 'a' }, { name: 'a' }], 400, /vms\[1\]\.name: duplicate name "a" \(also vms\[0\]\)/],
      [[{ name: 'a', vmid: 101 }, { name: 'b', vmid: 101 }], 400, /vms\[1\]\.vmid: duplicate vmid 101/],
      [[{ name: 'a', vmid: 12 }], 400, /vms\[0\]\.vmid: expected a Proxmox VMID/],
      [[{ name: 'a', vmid: 'x' }], 400, /vms\[0\]\.vmid/],
      [[{ vmid: 101 }], 400, /vms\[0\]\.name: required/],
      [Array.from({ length: 10_001 }, (_, i) => ({ name: `vm-${i}` })), 400, /at most 10000 VMs/],
    ];
    for (const [vms, status, message] of cases) {
      const res = await put(vms);
      expect(res.statusCode, JSON.stringify(vms).slice(0, 80)).toBe(status);
      expect(res.json()).toMatchObject({ code: 'INVALID_FLEET', message: expect.stringMatching(message) });
    }
    // Fastify's JSON parser refuses prototype keys before any schema sees them.
    const proto = await put([{ name: 'a', labels: JSON.parse('{"__proto__": "x"}') as Record<string, string> }]);
    expect(proto.json()).toMatchObject({ statusCode: 400, code: 'INVALID_JSON' });
    expect((await put([{ name: 'x' }], {})).json()).toMatchObject({ statusCode: 401, code: 'UNAUTHORIZED' });
    expect((await put([{ name: 'x' }], { authorization: 'Bearer wrong-token-0123456789' })).statusCode).toBe(401);
    expect((await fleet()).vms.map((v) => v.name)).toEqual(['keep-01']);
  });

  it('answers 403 saying how to enable it when no admin token is configured', async () => {
    await start({ adminToken: undefined });
    const res = await put([{ name: 'x' }]);
    expect(res.statusCode).toBe(403);
    expect(res.json()).toEqual({
      statusCode: 403,
      code: 'ADMIN_DISABLED',
      error: 'Forbidden',
      message: 'PUT /fleet is disabled: set WEBHOOK_ADMIN_TOKEN (or WEBHOOK_ADMIN_TOKEN_FILE) on the receiver to enable it',
    });
  });
});

describe('host statuses from cloud-init and check-ins', () => {
  it('booting while cloud-init reports, then the run; a FAIL after a failed run keeps failed', async () => {
    await start();
    await cloudInit('web-01', 'SUCCESS', 'init-network');
    expect((await getJson<HostSummary>(t!.app, '/hosts/web-01')).body.status).toBe('booting');
    now += 1000;
    const run = runEvents({ host: host({ hostname: 'web-01' }), start: now });
    await post(t!.app, { events: [run.started(), run.task('failed'), run.finished(1)] });
    now += 1000;
    await cloudInit('web-01', 'FAIL');
    expect((await getJson<HostSummary>(t!.app, '/hosts/web-01')).body.status).toBe('failed');
  });

  it('a pull failure after a succeeded run is pull-failed; the next good run clears it', async () => {
    await start();
    const h = host();
    const first = runEvents({ host: h, start: now });
    await post(t!.app, { events: [first.started(), first.finished()] });
    now += 60_000;
    await post(t!.app, checkin(h, { result: 'pull_failed', exit_code: 1, error: 'fatal: could not read Username' }));
    expect((await getJson<HostSummary>(t!.app, '/hosts/web-01')).body.status).toBe('pull-failed');
    now += 60_000;
    const second = runEvents({ host: h, start: now });
    await post(t!.app, { events: [second.started(), second.finished()] });
    expect((await getJson<HostSummary>(t!.app, '/hosts/web-01')).body.status).toBe('succeeded');
  });

  it('out-of-sync once a periodic host misses its interval plus the grace', async () => {
    await start({ outOfSyncGraceMs: 300_000 });
    const h = host();
    const run = runEvents({ host: h, start: now });
    await post(t!.app, { events: [run.started(), run.finished()] });
    await post(t!.app, checkin(h, { result: 'ran', interval_seconds: 600 }));
    now += 899_000;
    expect((await getJson<HostSummary>(t!.app, '/hosts/web-01')).body.status).toBe('succeeded');
    now += 2000;
    expect((await getJson<HostSummary>(t!.app, '/hosts/web-01')).body.status).toBe('out-of-sync');
    await post(t!.app, checkin(h, { result: 'skipped', interval_seconds: 600 }));
    expect((await getJson<HostSummary>(t!.app, '/hosts/web-01')).body.status).toBe('succeeded');
  });
});

describe('GET /fleet/wait', () => {
  it('answers failed at once when one VM failed, naming each VM; keep_going waits for the rest', async () => {
    await start();
    await put([{ name: 'web-01' }, { name: 'web-02' }]);
    await post(t!.app, checkin(host({ hostname: 'web-02' }), { result: 'pull_failed', exit_code: 128, error: 'fatal: repository not found' }));
    const res = await t!.app.inject({ method: 'GET', url: '/fleet/wait?all=1&timeout=5' });
    expect(res.statusCode).toBe(200);
    const body = res.json() as FleetWaitAnswer;
    expect(body.state).toBe('failed');
    expect(body.vms.map((v) => [v.vm, v.status, v.done])).toEqual([
      ['web-01', 'never-reported', false],
      ['web-02', 'pull-failed', true],
    ]);
    const pending = await t!.app.inject({ method: 'GET', url: '/fleet/wait?all=1&keep_going=1&timeout=0' });
    expect(pending.statusCode).toBe(202);
    expect(pending.json()).toMatchObject({ state: 'pending' });
  });

  it('wakes when the last VM finishes, and answers text/plain for scripts', async () => {
    await start();
    const wait = t!.app.inject({ method: 'GET', url: '/fleet/wait?vm=web-01&vm=web-02&timeout=20', headers: { accept: 'text/plain' } });
    for (const name of ['web-01', 'web-02']) {
      const run = runEvents({ host: host({ hostname: name, machine_id: undefined }) });
      await post(t!.app, { events: [run.started(), run.finished()] });
    }
    const res = await wait;
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.body).toMatch(/^web-01 succeeded the latest run succeeded\nweb-02 succeeded the latest run succeeded\nstate=succeeded waited_ms=\d+\n$/);
  });

  it('refuses a wait that names no VM', async () => {
    await start();
    const res = await t!.app.inject({ method: 'GET', url: '/fleet/wait' });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'INVALID_QUERY', message: 'vm: required, name VMs with vm=… (repeatable) or ask for all=1' });
  });
});
