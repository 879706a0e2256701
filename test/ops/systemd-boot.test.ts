/**
 * webhook.service under a real systemd: test/ops/fixtures/systemd-boot.sh boots systemd as PID 1
 * of a throwaway container (an overlay of / in a tmpfs, its own pid/mount/net/cgroup namespaces),
 * then systemd-scenario.sh deploys with deploy.sh and exercises the sandboxed service. This is the
 * check that the hardening leaves Node able to work, which systemd-analyze cannot tell.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually } from '../eventually.js';
import { renderTo, templateVars, type WriteFile } from '../e2e/user-data.js';
import { hasTool } from '../tools.js';

const REPO = join(import.meta.dirname, '..', '..');
const BOOT = join(REPO, 'test', 'ops', 'fixtures', 'systemd-boot.sh');
const SCENARIO = join(REPO, 'test', 'ops', 'fixtures', 'systemd-scenario.sh');
const NAME = `webhook-systemd-test-${process.pid}`;
/** The cloud-init template's files, rendered here for the container (which sees the checkout read-only). */
const TIMER_FILES = join(REPO, 'test-results', 'systemd-timer', 'write-files.json');

/** Renders the template as a VM with a 5 s pull interval would get it, for the scenario's periodic-pull step. */
function renderTimerVm(): void {
  mkdirSync(join(REPO, 'test-results', 'systemd-timer'), { recursive: true });
  const vars = templateVars({
    webhook_url: 'http://127.0.0.1:9191',
    ansible_repo_url: 'file:///var/tmp/timer-repo',
    pull_interval: '5s',
    pull_random_delay: '0',
  });
  const { config } = renderTo(join(REPO, 'test-results', 'systemd-timer', 'user-data.yaml'), vars);
  const files = (config.write_files as WriteFile[]).map((f) => ({
    path: f.path,
    permissions: f.permissions ?? '0644',
    b64: f.encoding === 'b64' ? f.content : Buffer.from(f.content).toString('base64'),
  }));
  writeFileSync(TIMER_FILES, JSON.stringify(files));
}

/** What booting needs; CI has all of it, so there a gap is a failure rather than a skip. */
function missing(): string | undefined {
  if (process.getuid?.() !== 0) return 'it needs root';
  for (const tool of ['unshare', 'nsenter', 'pivot_root', 'systemctl', 'systemd-analyze']) {
    if (!hasTool(tool)) return `${tool} is not installed`;
  }
  if (!existsSync('/lib/systemd/systemd')) return 'systemd is not installed (apt-get install -y systemd)';
  if (!/\toverlay$/m.test(readFileSync('/proc/filesystems', 'utf8'))) return 'the kernel has no overlayfs';
  return undefined;
}

let work: string | undefined;
let boot: ChildProcess | undefined;
let systemdPid: number | undefined;

afterAll(async () => {
  if (systemdPid !== undefined) {
    // PID 1 of the namespace: killing it takes every process of the container with it.
    try {
      process.kill(systemdPid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  if (boot && boot.exitCode === null && boot.signalCode === null) {
    await new Promise((resolve) => boot!.once('exit', resolve));
  }
  if (boot) spawnSync('bash', [BOOT, 'cleanup', NAME]);
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Host pid of the container's systemd: the child that unshare forked. */
async function waitForSystemd(unsharePid: number, log: () => string): Promise<number> {
  const pid = await eventually(
    () => {
      const child = spawnSync('pgrep', ['-P', String(unsharePid)], { encoding: 'utf8' })
        .stdout.trim()
        .split('\n')[0];
      if (child && readFileSync(`/proc/${child}/comm`, 'utf8').trim() === 'systemd') return Number(child);
      if (boot?.exitCode !== null) return undefined; // the container is gone: nothing left to wait for
      throw new Error('not yet');
    },
    { timeout: 20_000, interval: 100 },
  ).catch(() => undefined);
  if (pid === undefined) throw new Error(`systemd did not start in the container:\n${log()}`);
  return pid;
}

describe('webhook.service under systemd', () => {
  it('deploys, runs sandboxed, restarts after a crash, stops cleanly, records a periodic pull twice and uninstalls', async (ctx) => {
    expect(existsSync(join(REPO, 'dist', 'src', 'server.js')), 'run npm run build').toBe(true);
    const why = missing();
    if (why !== undefined) {
      if (process.env.CI === 'true') throw new Error(`the systemd boot test cannot run: ${why}`);
      console.warn(`skipping the systemd boot test: ${why}`);
      return ctx.skip();
    }

    renderTimerVm();
    work = mkdtempSync(join(tmpdir(), 'webhook-systemd-'));
    let bootLog = '';
    boot = spawn('unshare', ['--pid', '--fork', '--mount', '--net', '--uts', '--ipc', 'bash', BOOT, 'boot', work, NAME, REPO], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    boot.stdout!.on('data', (d: Buffer) => (bootLog += d.toString()));
    boot.stderr!.on('data', (d: Buffer) => (bootLog += d.toString()));
    systemdPid = await waitForSystemd(boot.pid!, () => bootLog);

    const r = spawnSync(
      'nsenter',
      ['-t', String(systemdPid), '-a', '--', 'bash', '-c', 'cd / && exec bash "$0" "$1" /var/tmp/systemd-scenario', SCENARIO, REPO],
      { encoding: 'utf8', timeout: 180_000 },
    );
    const output = `${r.stdout}${r.stderr}\n${bootLog}`;
    expect(r.status, output).toBe(0);
    expect(output).toContain('all systemd checks passed');
  }, 240_000);
});
