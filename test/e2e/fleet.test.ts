/**
 * Every VM accounted for, end to end: a declared fleet of five VMs against the real receiver
 * process. Each VM is the template's wrapper (or cloud-init's own reporting handler) run in its own
 * UTS and mount namespace, so it has its own hostname and /etc/machine-id, as a VM would:
 * - vm-ok runs real ansible-pull through the wrapper and succeeds;
 * - vm-pull's repository does not exist: pull-failed with git's message;
 * - vm-boot gets a FAIL through cloud-init's WebHookHandler: boot-failed;
 * - vm-silent never reports: missing once the (short) grace is over;
 * - vm-idle runs the wrapper with --only-if-changed on an unchanged checkout: checked in.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { FleetAnswer } from '../../src/protocol/fleet.js';
import { eventually } from '../eventually.js';
import { tempDir } from '../helper.js';
import { ROOT, startServer, type ServerProcess } from './server-process.js';
import { FAILING_FINAL_STAGE_PY, installUnder, renderTo, SYSTEM_PYTHON, templateVars, WRAPPER_PATH } from './user-data.js';
import { asVm, canRunVms, gitRepo, vm, type Vm } from './vms.js';

const ADMIN = 'fleet-admin-token-0123456789';
const SCRIPT = join(ROOT, 'scripts', 'wait-for-webhook.sh');
const work = tempDir('webhook-fleet-e2e-');
let server: ServerProcess | undefined;
afterAll(async () => {
  await server?.stop('SIGKILL');
});

function install(v: Vm, overrides: Record<string, string | number | boolean>) {
  const { config } = renderTo(join(work, `${v.name}.yaml`), templateVars({ hostname: v.name, vmid: v.vmid, webhook_url: server!.url, pull_interval: '', ...overrides }));
  installUnder(v.root, config);
  return config;
}

async function fleet(): Promise<FleetAnswer> {
  return (await (await fetch(`${server!.url}/fleet`)).json()) as FleetAnswer;
}

/** Until `cond` holds: one eventually() with a condition that names what it waited for. */
const until = (cond: () => Promise<boolean>, what: string, timeout = 60_000) =>
  eventually(async () => {
    if (!(await cond())) throw new Error(`still waiting for ${what}`);
  }, { timeout, interval: 100 });

function waitScript(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const started = Date.now();
  const proc = spawn('bash', [SCRIPT, '--url', server!.url, ...args], { env: { PATH: process.env.PATH ?? '', HOME: work } });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => proc.once('close', (code) => resolve({ code, stdout, stderr, ms: Date.now() - started })));
}

describe('every VM accounted for', () => {
  it('a declared fleet of five: succeeded, pull-failed, boot-failed, missing and checked in; the fleet wait names the three failures', async (ctx) => {
    if (!canRunVms()) return ctx.skip();
    server = await startServer({ WEBHOOK_DB: join(work, 'webhook.db'), WEBHOOK_ADMIN_TOKEN: ADMIN, WEBHOOK_EXPECT_GRACE_SECONDS: '20' });
    const vms = { ok: vm(work, 'vm-ok', 201), pull: vm(work, 'vm-pull', 202), boot: vm(work, 'vm-boot', 203), silent: vm(work, 'vm-silent', 204), idle: vm(work, 'vm-idle', 205) };
    const declared = await fetch(`${server.url}/fleet`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ vms: Object.values(vms).map((v) => ({ name: v.name, vmid: v.vmid })) }),
    });
    expect(declared.status).toBe(200);

    const repo = join(work, 'repo');
    gitRepo(repo);

    // vm-pull: the repository does not exist; the wait for it ends at once with exit 1.
    install(vms.pull, { ansible_repo_url: `file://${join(work, 'no-such-repo')}` });
    const pullWait = waitScript(['--timeout', '120', '--poll', '120', 'vm-pull']);
    const pull = await asVm(work, vms.pull, [vms.pull.root + WRAPPER_PATH]);
    expect(pull.status).not.toBe(0);
    const pullAnswer = await pullWait;
    expect(pullAnswer.code, pullAnswer.stderr).toBe(1);
    expect(pullAnswer.stdout).toMatch(/^vm-pull pull-failed: ansible-pull could not get the playbook repository \(exit 2\): fatal: '.*no-such-repo' does not appear to be a git repository/m);

    // vm-ok: a real ansible-pull through the wrapper.
    install(vms.ok, { ansible_repo_url: `file://${repo}` });
    const ok = await asVm(work, vms.ok, [vms.ok.root + WRAPPER_PATH]);
    expect(ok.status, ok.output).toBe(0);

    // vm-boot: cloud-init's own reporting handler, configured by the rendered template, reports a FAIL.
    const bootConfig = install(vms.boot, { ansible_repo_url: `file://${repo}` });
    const py = spawnSync(SYSTEM_PYTHON, ['-c', `
import json, sys
from cloudinit import reporting
from cloudinit.reporting import events
reporting.update_configuration(json.loads(sys.argv[1])['reporting'])
${FAILING_FINAL_STAGE_PY}`, JSON.stringify(bootConfig)], { encoding: 'utf8', timeout: 60_000 });
    expect(py.status, py.stderr).toBe(0);

    // vm-idle: its checkout is current, so --only-if-changed skips the playbook.
    install(vms.idle, { ansible_repo_url: `file://${repo}`, pull_only_if_changed: true });
    execFileSync('git', ['clone', '-q', `file://${repo}`, join(vms.idle.root, 'var/lib/ansible-pull')]);
    const idle = await asVm(work, vms.idle, [vms.idle.root + WRAPPER_PATH]);
    expect(idle.status, idle.output).toBe(0);
    expect(idle.output).toContain('Repository has not changed, quitting.');

    // Check-ins go out through the detached sender: wait until the receiver has them all.
    const want = { 'vm-ok': 'succeeded', 'vm-pull': 'pull-failed', 'vm-boot': 'boot-failed', 'vm-silent': 'missing', 'vm-idle': 'checked-in' };
    const statuses = async () => Object.fromEntries((await fleet()).vms.map((v) => [v.name, v.status]));
    // vm-silent turns missing once the 20 s grace since the fleet was declared is over.
    await until(async () => JSON.stringify(await statuses()) === JSON.stringify(Object.fromEntries(Object.keys(want).sort().map((k) => [k, want[k as keyof typeof want]]))), 'the five statuses');
    await until(async () => (await fleet()).vms.find((v) => v.name === 'vm-ok')?.reported === true && (await fleet()).vms.find((v) => v.name === 'vm-idle')?.reported === true, 'coverage');

    const f = await fleet();
    expect(f).toMatchObject({ expected: 5, reported: 2, coverage: 0.4 });
    const byName = Object.fromEntries(f.vms.map((v) => [v.name, v]));
    expect(byName['vm-pull']!.summary).toMatch(/does not appear to be a git repository/);
    expect(byName['vm-boot']!.summary).toBe('cloud-init reported FAIL in modules-final/config-scripts-user; no run started after it');
    expect(byName['vm-silent']!.next_step).toMatch(/cloud-init status --long/);

    const all = await waitScript(['--timeout', '60', '--fleet']);
    expect(all.code, all.stderr).toBe(1);
    const lines = all.stdout.trim().split('\n');
    expect(lines.map((l) => l.split(' ').slice(0, 2).join(' '))).toEqual([
      'vm-boot boot-failed',
      'vm-idle checked-in',
      'vm-ok succeeded',
      'vm-pull pull-failed',
      'vm-silent missing',
    ]);
  });
});
