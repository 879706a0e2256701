/**
 * The wrapper the cloud-init template installs (/usr/local/sbin/ansible-pull-webhook), rendered
 * and installed under a scratch root, running Debian's real ansible-pull on real git
 * repositories. No receiver listens, so every check-in stays in the spool, where the test reads
 * it: one per invocation, whatever happened, with ansible-pull's exit code kept.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { tempDir } from '../helper.js';
import { requireTool } from '../tools.js';
import { freePort } from './server-process.js';
import { installUnder, renderTo, templateVars, WRAPPER_PATH, writtenFile, type TemplateVars } from './user-data.js';

/** The check-in event exactly as the contract between VM and receiver describes it (docs/protocol.md). */
const checkinSchema = z.strictObject({
  v: z.literal(1),
  kind: z.literal('checkin'),
  event_id: z.uuid(),
  run_id: z.uuid(),
  seq: z.literal(0),
  time: z.iso.datetime({ offset: true }),
  host: z.strictObject({
    hostname: z.string().min(1).max(253),
    machine_id: z
      .string()
      .regex(/^[0-9a-f]{32}$/)
      .optional(),
    instance_id: z.string().min(1).max(128).optional(),
    vmid: z.number().int().positive().optional(),
    ips: z
      .array(z.union([z.ipv4(), z.ipv6()]))
      .max(32)
      .optional(),
  }),
  data: z.strictObject({
    result: z.enum(['ran', 'skipped', 'pull_failed', 'start_failed']),
    exit_code: z.number().int().min(0).max(255),
    commit_before: z
      .string()
      .regex(/^[0-9a-f]{7,64}$/)
      .optional(),
    commit_after: z
      .string()
      .regex(/^[0-9a-f]{7,64}$/)
      .optional(),
    duration_ms: z.number().int().nonnegative(),
    interval_seconds: z.number().int().positive().optional(),
    repo_url: z.string().max(2048).optional(),
    playbook: z.string().max(1024).optional(),
    error: z
      .string()
      .min(1)
      .max(4096)
      .refine((e) => e.split('\n').length <= 20, 'at most 20 lines')
      .optional(),
  }),
});
type Checkin = z.infer<typeof checkinSchema>;

interface SpooledEvent {
  kind: string;
  run_id: string;
  seq: number;
}

const VMID = 4343;
const work = tempDir('webhook-wrapper-');
const good = join(work, 'good-repo');
const noPlaybook = join(work, 'no-playbook-repo');
let commit = '';
let noPlaybookCommit = '';
let deadUrl = '';

function gitRepo(dir: string, files: Record<string, string>): string {
  mkdirSync(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const git = (...args: string[]) => execFileSync('git', ['-C', dir, ...args], { encoding: 'utf8' }).trim();
  git('init', '-q', '-b', 'main');
  git('add', '.');
  git('-c', 'user.name=test', '-c', 'user.email=test@example.com', 'commit', '-qm', 'test repository');
  return git('rev-parse', 'HEAD');
}

let enabled = false;
beforeAll(async () => {
  enabled = requireTool('ansible-pull') && requireTool('git') && requireTool('cloud-init') && requireTool('flock');
  if (!enabled) return;
  commit = gitRepo(good, {
    'site.yml':
      '- name: Periodic run\n  hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n' +
      '    - name: Say hello\n      ansible.builtin.debug:\n        msg: hello\n',
  });
  noPlaybookCommit = gitRepo(noPlaybook, { 'README.md': 'no playbook here\n' });
  deadUrl = `http://127.0.0.1:${await freePort()}`; // the receiver is down for the whole file
});

/** Renders the template for this VM and installs its files under root (again: settings change). */
function install(root: string, overrides: TemplateVars) {
  const { config } = renderTo(
    join(work, 'user-data.yaml'),
    templateVars({ hostname: osHostname(), vmid: VMID, webhook_url: deadUrl, ...overrides }),
  );
  installUnder(root, config);
  return config;
}

interface WrapperRun {
  status: number | null;
  output: string;
  ms: number;
}

/** The wrapper as runcmd or the timer runs it: the environment is what the env file sets. */
function runWrapper(root: string, args: string[] = []): Promise<WrapperRun> {
  const started = Date.now();
  const proc = spawn(root + WRAPPER_PATH, args, {
    cwd: work,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: work,
      LC_ALL: 'C.UTF-8',
      ANSIBLE_NOCOLOR: '1',
      ANSIBLE_LOCALHOST_WARNING: 'false',
      // No detached sender outlives the test: what is spooled stays there for it to read.
      WEBHOOK_RETRY_FOR: '0',
    },
  });
  let output = '';
  proc.stdout.on('data', (d: Buffer) => (output += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (output += d.toString()));
  return new Promise((resolve) => proc.once('close', (status) => resolve({ status, output, ms: Date.now() - started })));
}

/** Every spooled event, oldest first. */
function spooled(root: string): SpooledEvent[] {
  const dir = join(root, 'var/spool/webhook-status');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((n) => n.endsWith('.json'))
    .sort()
    .flatMap((n) => (JSON.parse(readFileSync(join(dir, n), 'utf8')) as { events: SpooledEvent[] }).events);
}

/** The check-ins in the spool, each checked against the contract. */
const checkins = (root: string): Checkin[] =>
  spooled(root)
    .filter((e) => e.kind === 'checkin')
    .map((e) => checkinSchema.parse(e));

describe('ansible-pull-webhook, the wrapper of the cloud-init template, with the receiver down', () => {
  it('a good repository: ran, exit 0, the commit; then unchanged with pull_only_if_changed: skipped', async (ctx) => {
    if (!enabled) return ctx.skip();
    const root = join(work, 'vm-good');
    install(root, { ansible_repo_url: `file://${good}`, pull_interval: '1h 30min' });

    const first = await runWrapper(root);
    expect(first.status, first.output).toBe(0);
    expect(first.output).toContain('PLAY RECAP'); // ansible-pull's output still reaches the log
    const [ran] = checkins(root);
    expect(ran!.data).toEqual({
      result: 'ran',
      exit_code: 0,
      commit_after: commit, // a first clone has no commit before
      duration_ms: expect.any(Number),
      interval_seconds: 5400,
      repo_url: `file://${good}`,
      playbook: 'site.yml',
    });
    expect(ran!.data.duration_ms).toBeGreaterThan(0);
    expect(ran!.data.duration_ms).toBeLessThanOrEqual(first.ms);
    expect(ran!.host).toMatchObject({ hostname: osHostname(), vmid: VMID });
    // The run the playbook reported (spooled too) carries the check-in's run id.
    const run = spooled(root).filter((e) => e.kind !== 'checkin');
    expect(run.map((e) => e.kind)).toEqual(['run_started', 'task_result', 'run_finished']);
    expect(new Set(run.map((e) => e.run_id))).toEqual(new Set([ran!.run_id]));

    install(root, { ansible_repo_url: `file://${good}`, pull_interval: '30min', pull_only_if_changed: true });
    const second = await runWrapper(root);
    expect(second.status, second.output).toBe(0);
    expect(second.output).toContain('Repository has not changed, quitting.');
    const [, skipped] = checkins(root);
    expect(skipped!.data).toEqual({
      result: 'skipped',
      exit_code: 0,
      commit_before: commit,
      commit_after: commit,
      duration_ms: expect.any(Number),
      interval_seconds: 1800,
      repo_url: `file://${good}`,
      playbook: 'site.yml',
    });
    expect(skipped!.run_id).not.toBe(ran!.run_id);
    expect(
      spooled(root)
        .filter((e) => e.run_id === skipped!.run_id)
        .map((e) => e.kind),
    ).toEqual(['checkin']); // no playbook ran
  });

  it('a repository that does not exist: pull_failed with git message, and the exit code kept', async (ctx) => {
    if (!enabled) return ctx.skip();
    const root = join(work, 'vm-missing-repo');
    const missing = join(work, 'no-such-repo');
    install(root, { ansible_repo_url: `file://${missing}`, pull_interval: '' });
    const pull = await runWrapper(root);
    expect(pull.status, pull.output).not.toBe(0);
    expect(pull.status).toBe(2); // ansible's "a host failed", as ansible-pull returned it
    const [failed] = checkins(root);
    expect(failed!.data).toMatchObject({ result: 'pull_failed', exit_code: pull.status, repo_url: `file://${missing}` });
    expect(failed!.data).not.toHaveProperty('commit_before');
    expect(failed!.data).not.toHaveProperty('commit_after');
    expect(failed!.data).not.toHaveProperty('interval_seconds'); // first boot only
    expect(failed!.data.error).toMatch(new RegExp(`fatal: '${missing}' does not appear to be a git repository`));
    expect(spooled(root).map((e) => e.kind)).toEqual(['checkin']);
  });

  it('credentials in the repository URL appear neither in repo_url nor in the error', async (ctx) => {
    if (!enabled) return ctx.skip();
    const root = join(work, 'vm-token');
    const port = await freePort();
    install(root, { ansible_repo_url: `https://deploy:s3cr3t-t0ken@127.0.0.1:${port}/infra.git`, pull_interval: '0' });
    const pull = await runWrapper(root);
    expect(pull.status, pull.output).not.toBe(0);
    const [failed] = checkins(root);
    expect(failed!.data).toMatchObject({ result: 'pull_failed', exit_code: pull.status, repo_url: `https://127.0.0.1:${port}/infra.git` });
    expect(failed!.data.error).toContain(`127.0.0.1 port ${port}`);
    expect(JSON.stringify(spooled(root))).not.toContain('s3cr3t-t0ken');
  });

  it('a repository without the playbook: start_failed with ansible-pull error, the commit it got', async (ctx) => {
    if (!enabled) return ctx.skip();
    const root = join(work, 'vm-no-playbook');
    install(root, { ansible_repo_url: `file://${noPlaybook}` });
    const pull = await runWrapper(root);
    expect(pull.status, pull.output).toBe(5); // AnsibleOptionsError
    const [failed] = checkins(root);
    expect(failed!.data).toMatchObject({ result: 'start_failed', exit_code: 5, commit_after: noPlaybookCommit, interval_seconds: 1800 });
    expect(failed!.data.error).toContain('ERROR! Could not find a playbook to run.');
    expect(failed!.data.error).toContain('site.yml');
    expect(failed!.data.error).not.toContain('usage: ansible-pull'); // its usage text is not the error
    expect(spooled(root).map((e) => e.kind)).toEqual(['checkin']);
  });

  it('leaves a run that is going alone: exit 0 at once, no ansible-pull, no check-in', async (ctx) => {
    if (!enabled) return ctx.skip();
    const root = join(work, 'vm-locked');
    install(root, { ansible_repo_url: `file://${good}` });
    const lock = join(root, 'run/lock/ansible-pull-webhook.lock');
    mkdirSync(join(root, 'run/lock'), { recursive: true });
    // flock(1) holds the lock the way a running wrapper does while the second one starts.
    const holder = spawn('flock', [lock, 'sleep', '30'], { stdio: 'ignore' });
    try {
      const deadline = Date.now() + 5000;
      while (spawnSync('flock', ['-n', lock, 'true']).status === 0) {
        if (Date.now() > deadline) throw new Error('flock never took the lock');
        await new Promise((r) => setTimeout(r, 50));
      }
      const second = await runWrapper(root);
      expect(second.status).toBe(0);
      expect(second.output).toContain('another run holds');
      expect(second.ms).toBeLessThan(5000);
      expect(spooled(root)).toEqual([]);
      expect(existsSync(join(root, 'var/lib/ansible-pull'))).toBe(false);
    } finally {
      holder.kill();
    }
  });

  it('turns systemd time spans into seconds as systemd reads them', (ctx) => {
    if (!enabled) return ctx.skip();
    const config = install(join(work, 'vm-spans'), {});
    const wrapper = writtenFile(config, WRAPPER_PATH).content;
    const fn = /^span_seconds\(\) \{\n[\s\S]*?\n\}\n/m.exec(wrapper)?.[0];
    expect(fn, 'span_seconds() in the wrapper').toBeDefined();
    const spans: Record<string, number> = {
      '30min': 1800,
      '1h 30min': 5400,
      '1h30m': 5400,
      '90': 90,
      '90s': 90,
      '1.5h': 5400,
      '2 hours': 7200,
      '1d': 86400,
      '1w': 604800,
      '500ms': 0,
      '': 0,
      '0': 0,
      soon: 0,
      '5 parsecs': 0,
    };
    const script = `${fn}\nfor s in "$@"; do span_seconds "$s"; done`;
    const out = execFileSync('bash', ['-c', script, 'spans', ...Object.keys(spans)], { encoding: 'utf8' });
    expect(out.trim().split('\n').map(Number)).toEqual(Object.values(spans));
  });
});
