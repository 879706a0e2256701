import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ProxmoxConfig } from '../../src/config.js';
import type { ProxmoxVm } from '../../src/fleet/proxmox-client.js';
import { createProxmoxDiscovery, retryDelayMs, type ProxmoxDiscovery } from '../../src/fleet/proxmox-discovery.js';
import { createLogger } from '../../src/logger.js';
import { makeApp, tempDir } from '../helper.js';
import { requireTool } from '../tools.js';
import { makePki, startFakeProxmox, type FakeProxmox, type Pki, type Resource } from './proxmox-fake.js';

const SECRET = '7c6b5a49-3827-4165-a4b3-c2d1e0f9a8b7';
const NOW = 1_800_000_000_000;
const haveOpenssl = requireTool('openssl');

interface LogLine {
  level: number;
  msg: string;
  outcome?: string;
  detail?: string;
  retryInSeconds?: number;
  component?: string;
  tokenId?: string;
}

/** Waits for a condition by polling; the deadline is a safety net, not an assertion on timing. */
async function until(cond: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const fleet = (): Resource[] => [
  { vmid: 101, name: 'web-01', node: 'pve1', status: 'running', type: 'qemu', template: 0, tags: 'ansible-pull;web' },
  { vmid: 102, name: 'web-02', node: 'pve1', status: 'stopped', type: 'qemu', template: 0, tags: 'ansible-pull' },
  { vmid: 103, name: 'scratch', node: 'pve1', status: 'running', type: 'qemu', template: 0 },
  { vmid: 9000, name: 'debian-12', node: 'pve1', status: 'stopped', type: 'qemu', template: 1, tags: 'ansible-pull' },
];

describe.runIf(haveOpenssl)('Proxmox discovery', () => {
  let dir: string;
  let pki: Pki;
  let fake: FakeProxmox;
  let raw: string[];
  let logs: LogLine[];
  let registry: Registry;
  let inventories: ProxmoxVm[][];
  let discovery: ProxmoxDiscovery | undefined;

  beforeAll(async () => {
    dir = tempDir('webhook-proxmox-');
    pki = makePki(dir);
    fake = await startFakeProxmox(pki);
    raw = [];
  });
  afterAll(async () => {
    await fake.down();
    rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(async () => {
    await fake.up(); // a test may have left it down
    fake.mode = 'ok';
    fake.resources = fleet();
    fake.requests.length = 0;
    logs = [];
    inventories = [];
    registry = new Registry();
  });
  afterEach(async () => {
    await discovery?.stop();
    discovery = undefined;
  });

  const config = (overrides: Partial<ProxmoxConfig> = {}): ProxmoxConfig => ({
    url: fake.url,
    tokenId: 'webhook@pve!discovery',
    tokenSecret: SECRET,
    ca: pki.ca,
    caFile: pki.caFile,
    tag: 'ansible-pull',
    intervalMs: 150,
    ...overrides,
  });

  function start(overrides: Partial<ProxmoxConfig> = {}, reg: Registry = registry, timeoutMs?: number): ProxmoxDiscovery {
    const logger = createLogger('trace', {
      write(line: string) {
        raw.push(line);
        logs.push(JSON.parse(line) as LogLine);
      },
    });
    discovery = createProxmoxDiscovery({
      config: config(overrides),
      logger,
      registry: reg,
      clock: () => NOW,
      retryBaseMs: 10,
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      onInventory: (vms) => inventories.push(vms),
    });
    discovery.start();
    return discovery;
  }

  const metric = async (name: string, labels = ''): Promise<number | undefined> => {
    const text = await registry.metrics();
    const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
    return line === undefined ? undefined : Number(line.split(' ')[1]);
  };
  const failuresLogged = (outcome: string) => logs.filter((l) => l.outcome === outcome);

  it('hands over the tagged, non-template VMs after each poll; a VM that disappears is simply not in the next list', async () => {
    start();
    await until(() => inventories.length >= 1, 'a first inventory');
    expect(inventories[0]).toEqual([
      { vmid: 101, name: 'web-01', node: 'pve1', status: 'running', tags: ['ansible-pull', 'web'] },
      { vmid: 102, name: 'web-02', node: 'pve1', status: 'stopped', tags: ['ansible-pull'] },
    ]);
    expect(await metric('webhook_proxmox_discovered_vms')).toBe(2);
    expect(await metric('webhook_proxmox_last_success_timestamp_seconds')).toBe(NOW / 1000);
    expect(await metric('webhook_proxmox_polls_total', '{outcome="refused"}')).toBe(0);

    // web-01 is destroyed, web-02 powered on, a new tagged VM appears.
    fake.resources = [
      { vmid: 102, name: 'web-02', node: 'pve1', status: 'running', type: 'qemu', template: 0, tags: 'ansible-pull' },
      { vmid: 105, name: 'web-05', node: 'pve2', status: 'stopped', type: 'qemu', template: 0, tags: 'web;ansible-pull' },
    ];
    const seen = inventories.length;
    await until(() => inventories.length > seen, 'the next inventory');
    expect(inventories.at(-1)).toEqual([
      { vmid: 102, name: 'web-02', node: 'pve1', status: 'running', tags: ['ansible-pull'] },
      { vmid: 105, name: 'web-05', node: 'pve2', status: 'stopped', tags: ['web', 'ansible-pull'] },
    ]);
    expect(await metric('webhook_proxmox_polls_total', '{outcome="ok"}')).toBeGreaterThanOrEqual(2);
    expect(fake.requests.every((r) => r.authorization === `PVEAPIToken=webhook@pve!discovery=${SECRET}`)).toBe(true);
    expect(logs.filter((l) => l.level >= 40)).toEqual([]);
  });

  it('a refused token: one clear error line per try, a metric, retries with doubling delays capped at the interval, then recovery', async () => {
    fake.mode = 'refuse';
    start();
    await until(() => failuresLogged('refused').length >= 6, 'six refused polls');
    const lines = failuresLogged('refused');
    expect(lines[0]).toMatchObject({
      level: 50,
      component: 'proxmox-discovery',
      tokenId: 'webhook@pve!discovery',
      detail: '401',
      msg: 'Proxmox discovery failed: the API refused token webhook@pve!discovery (HTTP 401): check that the token exists, has not expired, and that WEBHOOK_PROXMOX_TOKEN_FILE holds its secret; retrying in 0.01 s',
    });
    expect(lines.slice(0, 6).map((l) => l.retryInSeconds)).toEqual([0.01, 0.02, 0.04, 0.08, 0.15, 0.15]);
    expect(await metric('webhook_proxmox_polls_total', '{outcome="refused"}')).toBeGreaterThanOrEqual(6);
    expect(inventories).toEqual([]);
    expect(await metric('webhook_proxmox_last_success_timestamp_seconds')).toBe(0);

    fake.mode = 'ok';
    await until(() => inventories.length >= 1, 'an inventory after the token works again');
    expect(logs.find((l) => l.msg === 'Proxmox discovery recovered')).toMatchObject({ level: 30 });
    expect(await metric('webhook_proxmox_discovered_vms')).toBe(2);
  });

  it('an unreachable API (closed port): warnings, a metric, backoff, and recovery when it comes back', async () => {
    await fake.down();
    start();
    await until(() => failuresLogged('unreachable').length >= 3, 'three unreachable polls');
    expect(failuresLogged('unreachable')[0]).toMatchObject({
      level: 40,
      detail: 'ECONNREFUSED',
      msg: `Proxmox discovery failed: cannot reach ${fake.url} (ECONNREFUSED): check WEBHOOK_PROXMOX_URL and that pveproxy is running; retrying in 0.01 s`,
    });
    expect(await metric('webhook_proxmox_polls_total', '{outcome="unreachable"}')).toBeGreaterThanOrEqual(3);

    await fake.up();
    await until(() => inventories.length >= 1, 'an inventory once the API is back');
    expect(inventories[0]!.map((v) => v.vmid)).toEqual([101, 102]);
  });

  it('without the CA file the TLS check fails, reported as unreachable with the CA file to check', async () => {
    start({ ca: undefined, caFile: undefined });
    await until(() => failuresLogged('unreachable').length >= 1, 'a TLS failure');
    expect(failuresLogged('unreachable')[0]!.msg).toMatch(
      /the TLS certificate of https:\/\/127\.0\.0\.1:\d+ is not trusted \(\w+\): check WEBHOOK_PROXMOX_CA_FILE/,
    );
    expect(inventories).toEqual([]);
  });

  it('a wrong answer counts as bad_answer', async () => {
    fake.mode = 'garbage';
    start();
    await until(() => failuresLogged('bad_answer').length >= 1, 'a bad answer');
    expect(await metric('webhook_proxmox_polls_total', '{outcome="bad_answer"}')).toBeGreaterThanOrEqual(1);
  });

  it('warns once when the token sees no VMs at all (a privilege-separated token without an ACL)', async () => {
    fake.resources = [];
    start();
    await until(() => inventories.length >= 3, 'three empty inventories');
    expect(inventories[0]).toEqual([]);
    expect(logs.filter((l) => l.level === 40).map((l) => l.msg)).toEqual([
      'Proxmox discovery: the API lists no VMs at all; if there are some, give the token PVEAuditor on /vms (a privilege-separated token sees only what its own ACL allows)',
    ]);
  });

  it('stop() cancels the request in flight and the timer', async () => {
    fake.mode = 'hang';
    // The request's own timeout is a minute away: only stop() can end it sooner.
    const d = start({ intervalMs: 60_000 }, registry, 60_000);
    await until(() => fake.requests.length === 1 && fake.openConnections === 1, 'the first request');
    await d.stop();
    await until(() => fake.openConnections === 0, 'the connection to close');
    const requests = fake.requests.length;
    // Neither a failure (the cancel is ours) nor another poll follows.
    await new Promise((r) => setTimeout(r, 100));
    expect(fake.requests.length).toBe(requests);
    expect(logs.filter((l) => l.level >= 40)).toEqual([]);
  });

  it('the receiver keeps serving while Proxmox is down, and /metrics shows why', async () => {
    const t = await makeApp();
    try {
      await fake.down();
      start({}, t.app.ctx.metrics.registry);
      await until(() => failuresLogged('unreachable').length >= 2, 'two unreachable polls');
      expect((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
      const metrics = await t.app.inject({ method: 'GET', url: '/metrics' });
      expect(metrics.statusCode).toBe(200);
      expect(metrics.body).toMatch(/^webhook_proxmox_polls_total\{outcome="unreachable"\} [1-9]\d*$/m);
      expect(metrics.body).toMatch(/^webhook_proxmox_polls_total\{outcome="ok"\} 0$/m);
      expect(metrics.body).toMatch(/^webhook_proxmox_last_success_timestamp_seconds 0$/m);
      expect(metrics.body).not.toContain(SECRET);
      if (requireTool('promtool')) {
        // Exits non-zero, printing each problem, when the exposition is not clean.
        expect(execFileSync('promtool', ['check', 'metrics'], { input: metrics.body, encoding: 'utf8' })).toBe('');
      }
    } finally {
      await discovery?.stop();
      discovery = undefined;
      await t.close();
    }
  });

  // Runs last: the lines of every test above, logged at trace level.
  it('never logs the token secret, through successes, refusals, TLS failures and recoveries', () => {
    const all = raw.map((l) => JSON.parse(l) as LogLine);
    for (const outcome of ['refused', 'unreachable', 'bad_answer']) expect(all.some((l) => l.outcome === outcome)).toBe(true);
    expect(all.some((l) => l.msg === 'Proxmox discovery recovered')).toBe(true);
    expect(raw.join('')).not.toContain(SECRET);
    expect(raw.join('')).toContain('webhook@pve!discovery');
  });
});

describe('retry delays', () => {
  it('double from the base and stop at the interval', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 100].map((n) => retryDelayMs(n, 1000, 60_000))).toEqual([
      1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000,
    ]);
  });
});
