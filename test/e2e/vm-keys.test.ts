/**
 * Per-VM keys end to end: the template rendered with a VM's own key and cloud-init token, real
 * ansible-pull through the wrapper and cloud-init's own reporting handler, against a receiver that
 * requires per-VM keys. The same with another VM's key and token is refused.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cloudInitToken, vmSecret } from '../../src/auth/vm-keys.js';
import type { HostDetail } from '../../src/protocol/api.js';
import { eventually } from '../eventually.js';
import { tempDir } from '../helper.js';
import { startServer, type ServerProcess } from './server-process.js';
import { installUnder, renderTo, SYSTEM_PYTHON, templateVars, WRAPPER_PATH } from './user-data.js';
import { asVm, canRunVms, gitRepo, vm, type Vm } from './vms.js';

const MASTER = 'e2e-master-secret-0123456789abcdefghij';
const work = tempDir('webhook-vm-keys-');
let server: ServerProcess | undefined;
afterAll(async () => {
  await server?.stop('SIGKILL');
});

function install(v: Vm, keyOf: string) {
  const vars = templateVars({
    hostname: v.name,
    vmid: v.vmid,
    webhook_url: server!.url,
    webhook_secret: vmSecret(MASTER, keyOf),
    cloud_init_token: cloudInitToken(MASTER, keyOf),
    ansible_repo_url: `file://${join(work, 'repo')}`,
    pull_interval: '',
  });
  const { config } = renderTo(join(work, `${v.name}.yaml`), vars);
  installUnder(v.root, config);
  return config;
}

/** cloud-init's own reporting handler, configured by the rendered `reporting` section. */
function cloudInitReports(config: Record<string, unknown>) {
  return spawnSync(SYSTEM_PYTHON, ['-c', `
import json, sys
from cloudinit import reporting
from cloudinit.reporting import events
reporting.update_configuration(json.loads(sys.argv[1])['reporting'])
with events.ReportEventStack('init-network', 'searching for network datasources'):
    pass
reporting.flush_events()
`, JSON.stringify(config)], { encoding: 'utf8', timeout: 60_000 });
}

const hostOf = async (name: string) => {
  const res = await fetch(`${server!.url}/hosts/${name}`);
  return res.status === 200 ? ((await res.json()) as HostDetail) : undefined;
};

describe('per-VM keys with the rendered template', () => {
  it('accepts a VM reporting with its own key and token, refuses one using another VM\'s', async (ctx) => {
    if (!canRunVms()) return ctx.skip();
    server = await startServer({ WEBHOOK_DB: join(work, 'webhook.db'), WEBHOOK_VM_KEY_MASTER: MASTER, WEBHOOK_REQUIRE_VM_KEYS: 'true' });
    gitRepo(join(work, 'repo'));

    const own = vm(work, 'vm-key-1', 301);
    const ownConfig = install(own, 'vm-key-1');
    const run = await asVm(work, own, [own.root + WRAPPER_PATH]);
    expect(run.status, run.output).toBe(0);
    const py = cloudInitReports(ownConfig);
    expect(py.status, py.stderr).toBe(0);
    // The check-in goes out through the detached sender.
    const host = await eventually(async () => {
      const h = await hostOf('vm-key-1');
      expect(h?.checkins).toHaveLength(1);
      return h;
    }, { timeout: 20_000 });
    expect(host?.status).toBe('succeeded');
    expect(host?.checkins.map((c) => c.result)).toEqual(['ran']);
    expect(host?.cloud_init.map((e) => [e.name, e.event_type])).toEqual([['init-network', 'finish'], ['init-network', 'start']]);

    // vm-key-2 was given vm-key-1's key and token.
    const thief = vm(work, 'vm-key-2', 302);
    const thiefConfig = install(thief, 'vm-key-1');
    const stolen = await asVm(work, thief, [thief.root + WRAPPER_PATH], { WEBHOOK_RETRY_FOR: '0' });
    expect(stolen.status, stolen.output).toBe(0); // the play runs; its reports are refused
    // The receiver refused the reports (401): the plugin set them aside, it does not retry them.
    expect(readdirSync(join(thief.root, 'var/spool/webhook-status/rejected')).length).toBeGreaterThan(0);
    // cloud-init's handler posts synchronously; the plugin gave up at once (WEBHOOK_RETRY_FOR=0).
    cloudInitReports(thiefConfig);
    expect(await hostOf('vm-key-2')).toBeUndefined();
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/webhook_deliveries_rejected_total\{reason="unauthorized"\} [1-9]/);
    // vm-key-1's record is as it was.
    expect((await hostOf('vm-key-1'))?.runs.length).toBe(1);
  });
});
