/** Proxmox discovery wired into the receiver: the discovered VMs are the expected fleet. */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FleetAnswer } from '../../src/protocol/fleet.js';
import { eventually } from '../eventually.js';
import { getJson, host, makeApp, post, runEvents, tempDir, type TestApp } from '../helper.js';
import { requireTool } from '../tools.js';
import { makePki, startFakeProxmox, type FakeProxmox, type Pki } from './proxmox-fake.js';

/** Until `cond` holds: one eventually() with a condition that names what it waited for. */
const until = (cond: () => Promise<boolean>, what: string, timeout = 60_000) =>
  eventually(
    async () => {
      if (!(await cond())) throw new Error(`still waiting for ${what}`);
    },
    { timeout, interval: 100 },
  );

describe.runIf(requireTool('openssl'))('the expected fleet from Proxmox', () => {
  let dir: string;
  let pki: Pki;
  let fake: FakeProxmox;
  let t: TestApp;
  beforeAll(async () => {
    dir = tempDir('webhook-proxmox-fleet-');
    pki = makePki(dir);
    fake = await startFakeProxmox(pki, [
      { vmid: 101, name: 'web-01', node: 'pve1', status: 'running', type: 'qemu', template: 0, tags: 'ansible-pull;web' },
      { vmid: 102, name: 'web-02', node: 'pve2', status: 'stopped', type: 'qemu', template: 0, tags: 'ansible-pull' },
      { vmid: 103, name: 'scratch', node: 'pve1', status: 'running', type: 'qemu', template: 0 },
      { vmid: 9000, name: 'debian-12', node: 'pve1', status: 'stopped', type: 'qemu', template: 1, tags: 'ansible-pull' },
    ]);
    t = await makeApp({
      proxmox: {
        url: fake.url,
        tokenId: 'webhook@pve!discovery',
        tokenSecret: 'a1b2c3d4-0000-4000-8000-123456789abc',
        ca: pki.ca,
        caFile: pki.caFile,
        tag: 'ansible-pull',
        intervalMs: 100,
      },
    });
  });
  afterAll(async () => {
    await t?.close();
    await fake?.down();
    rmSync(dir, { recursive: true, force: true });
  });

  const fleet = async () => (await getJson<FleetAnswer>(t.app, '/fleet')).body;

  it('expects the tagged VMs, never templates; a powered-off VM is stopped, not missing', async () => {
    await until(async () => (await fleet()).expected === 2, 'the first poll');
    const f = await fleet();
    expect(f.vms.map((v) => [v.name, v.vmid, v.node, v.status, v.sources])).toEqual([
      ['web-01', 101, 'pve1', 'never-reported', ['proxmox']],
      ['web-02', 102, 'pve2', 'stopped', ['proxmox']],
    ]);
    expect(f.vms[1]!.next_step).toBe('Start it: `qm start 102`.');
  });

  it('matches a reporting VM by VMID, and forgets a VM that disappears while keeping its history', async () => {
    const run = runEvents({ host: host({ hostname: 'web-01.lab', vmid: 101 }) });
    await post(t.app, { events: [run.started(), run.finished()] });
    expect((await fleet()).vms[0]).toMatchObject({ name: 'web-01', status: 'succeeded', reported: true });
    fake.resources = fake.resources.filter((r) => r.vmid !== 101);
    await until(async () => (await fleet()).expected === 1, 'web-01 to disappear');
    expect((await fleet()).vms.map((v) => v.name)).toEqual(['web-02']);
    expect((await getJson(t.app, '/hosts/web-01.lab')).status).toBe(200);
  });

  it('keeps serving, with the last known fleet, while the token is refused or the API is down', async () => {
    fake.mode = 'refuse';
    const failures = () =>
      t.app.inject({ method: 'GET', url: '/metrics' }).then((r) => /webhook_proxmox_polls_total\{outcome="refused"\} [1-9]/.test(r.body));
    await until(failures, 'a refused poll');
    expect((await fleet()).expected).toBe(1);
    await fake.down();
    const down = () =>
      t.app
        .inject({ method: 'GET', url: '/metrics' })
        .then((r) => /webhook_proxmox_polls_total\{outcome="unreachable"\} [1-9]/.test(r.body));
    await until(down, 'an unreachable poll');
    expect((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expect((await fleet()).vms.map((v) => v.status)).toEqual(['stopped']);
  });
});
