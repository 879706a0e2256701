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
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { FleetAnswer } from '../../src/protocol/fleet.js';
import { tempDir } from '../helper.js';
import { requireTool } from '../tools.js';
import { ROOT, startServer, type ServerProcess } from './server-process.js';
import { installUnder, renderTo, SYSTEM_PYTHON, templateVars, WRAPPER_PATH } from './user-data.js';

const ADMIN = 'fleet-admin-token-0123456789';
const SCRIPT = join(ROOT, 'scripts', 'wait-for-webhook.sh');
const work = tempDir('webhook-fleet-e2e-');
let server: ServerProcess | undefined;
afterAll(async () => {
  await server?.stop('SIGKILL');
});

/** Namespaces and bind mounts need root, as CI has; elsewhere the test cannot run. */
function canRunVms(): boolean {
  const tools = ['ansible-pull', 'git', 'cloud-init', 'unshare', 'curl'].every((t) => requireTool(t));
  if (process.getuid?.() === 0) return tools;
  if (process.env.CI) throw new Error('the fleet end-to-end test needs root for its VM namespaces');
  return false;
}

function gitRepo(dir: string): void {
  mkdirSync(dir);
  writeFileSync(
    join(dir, 'site.yml'),
    '- name: Configure\n  hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n' +
      '    - name: Say hello\n      ansible.builtin.debug:\n        msg: hello\n',
  );
  const git = (...args: string[]) => execFileSync('git', ['-C', dir, ...args], { encoding: 'utf8' });
  git('init', '-q', '-b', 'main');
  git('add', '.');
  git('-c', 'user.name=test', '-c', 'user.email=test@example.com', 'commit', '-qm', 'playbook');
}

interface Vm {
  name: string;
  vmid: number;
  root: string;
  machineIdFile: string;
}

function vm(name: string, vmid: number): Vm {
  const root = join(work, name);
  mkdirSync(root, { recursive: true });
  const machineIdFile = join(work, `${name}.machine-id`);
  writeFileSync(machineIdFile, `${randomBytes(16).toString('hex')}\n`);
  return { name, vmid, root, machineIdFile };
}

/** Runs a command as the VM: its own hostname and machine-id, in namespaces of its own. */
function asVm(v: Vm, command: string[], env: Record<string, string> = {}): Promise<{ status: number | null; output: string }> {
  const proc = spawn(
    'unshare',
    ['--uts', '--mount', '--propagation', 'private', '--', 'sh', '-c', 'hostname "$1" && mount --bind "$2" /etc/machine-id && shift 2 && exec "$@"', 'sh', v.name, v.machineIdFile, ...command],
    { cwd: work, env: { PATH: process.env.PATH ?? '', HOME: work, LC_ALL: 'C.UTF-8', ANSIBLE_NOCOLOR: '1', ANSIBLE_LOCALHOST_WARNING: 'false', ...env } },
  );
  let output = '';
  proc.stdout.on('data', (d: Buffer) => (output += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (output += d.toString()));
  return new Promise((resolve) => proc.once('close', (status) => resolve({ status, output })));
}

function install(v: Vm, overrides: Record<string, string | number | boolean>) {
  const { config } = renderTo(join(work, `${v.name}.yaml`), templateVars({ hostname: v.name, vmid: v.vmid, webhook_url: server!.url, pull_interval: '', ...overrides }));
  installUnder(v.root, config);
  return config;
}

async function fleet(): Promise<FleetAnswer> {
  return (await (await fetch(`${server!.url}/fleet`)).json()) as FleetAnswer;
}

async function until(cond: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}: ${JSON.stringify(await fleet())}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

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
    const vms = { ok: vm('vm-ok', 201), pull: vm('vm-pull', 202), boot: vm('vm-boot', 203), silent: vm('vm-silent', 204), idle: vm('vm-idle', 205) };
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
    const pull = await asVm(vms.pull, [vms.pull.root + WRAPPER_PATH]);
    expect(pull.status).not.toBe(0);
    const pullAnswer = await pullWait;
    expect(pullAnswer.code, pullAnswer.stderr).toBe(1);
    expect(pullAnswer.stdout).toMatch(/^vm-pull pull-failed: ansible-pull could not get the playbook repository \(exit 2\): fatal: '.*no-such-repo' does not appear to be a git repository/m);

    // vm-ok: a real ansible-pull through the wrapper.
    install(vms.ok, { ansible_repo_url: `file://${repo}` });
    const ok = await asVm(vms.ok, [vms.ok.root + WRAPPER_PATH]);
    expect(ok.status, ok.output).toBe(0);

    // vm-boot: cloud-init's own reporting handler, configured by the rendered template, reports a FAIL.
    const bootConfig = install(vms.boot, { ansible_repo_url: `file://${repo}` });
    const py = spawnSync(SYSTEM_PYTHON, ['-c', `
import json, sys
from cloudinit import reporting
from cloudinit.reporting import events
reporting.update_configuration(json.loads(sys.argv[1])['reporting'])
final = events.ReportEventStack('modules-final', 'running modules for final')
with final:
    try:
        with events.ReportEventStack('config-scripts-user', 'running config-scripts-user', parent=final):
            raise RuntimeError('runcmd failed')
    except RuntimeError:
        pass
reporting.flush_events()
`, JSON.stringify(bootConfig)], { encoding: 'utf8', timeout: 60_000 });
    expect(py.status, py.stderr).toBe(0);

    // vm-idle: its checkout is current, so --only-if-changed skips the playbook.
    install(vms.idle, { ansible_repo_url: `file://${repo}`, pull_only_if_changed: true });
    execFileSync('git', ['clone', '-q', `file://${repo}`, join(vms.idle.root, 'var/lib/ansible-pull')]);
    const idle = await asVm(vms.idle, [vms.idle.root + WRAPPER_PATH]);
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
