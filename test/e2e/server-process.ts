/**
 * The end-to-end tests' shared fixture: the built service (dist/src/server.js) as a real process
 * on a free port, and the git repository of playbooks that Debian's ansible-pull clones and runs
 * with the webhook_status callback plugin.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach } from 'vitest';

export const ROOT = join(import.meta.dirname, '..', '..');
const SERVER = join(ROOT, 'dist', 'src', 'server.js');

export interface ServerProcess {
  url: string;
  proc: ChildProcess;
  logs: Array<Record<string, unknown>>;
  /** Resolves with the exit code (or signal name) once the process is gone. */
  exited: Promise<number | string>;
  stop: (signal?: NodeJS.Signals) => Promise<number | string>;
}

/** Starts the receiver with WEBHOOK_* env on port 0 and waits for its ready log line. */
export async function startServer(env: Record<string, string>, timeoutMs = 15_000): Promise<ServerProcess> {
  const proc = spawn(process.execPath, [SERVER], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      WEBHOOK_HOST: '127.0.0.1',
      WEBHOOK_PORT: '0',
      WEBHOOK_LOG_LEVEL: 'info',
      WEBHOOK_RATE_LIMIT: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Array<Record<string, unknown>> = [];
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | string>((resolve) => proc.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not become ready: ${stderr}`)), timeoutMs);
    void exited.then((code) => reject(new Error(`server exited with ${code} before ready: ${stderr}`)));
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        logs.push(entry);
        if (entry.msg === 'webhook receiver ready') {
          clearTimeout(timer);
          resolve(String(entry.address));
        }
      } catch {
        logs.push({ raw: line });
      }
    });
  });
  return {
    url,
    proc,
    logs,
    exited,
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}

/** A port that was free a moment ago, for tests that must restart a receiver on the same port. */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/**
 * Starts receivers (as startServer does) that are killed after each test of the calling file,
 * however the test ended; a test may still stop one itself to check how it exits.
 */
export function serversKilledAfterEach(): (env: Record<string, string>) => Promise<ServerProcess> {
  const started: ServerProcess[] = [];
  afterEach(async () => {
    await Promise.all(started.splice(0).map((s) => s.stop('SIGKILL')));
  });
  return async (env) => {
    const server = await startServer(env);
    started.push(server);
    return server;
  };
}

export const ANSIBLE_PULL = '/usr/bin/ansible-pull'; // Debian's, run by its /usr/bin/python3
export const PLUGIN_DIR = join(ROOT, 'ansible', 'callback_plugins');

/** A play on localhost without facts, as the test playbooks are written. */
export const play = (name: string, tasks: string, extra = '') =>
  `- name: ${name}\n  hosts: localhost\n  connection: local\n  gather_facts: false\n${extra}  tasks:\n${tasks}`;
/** A debug task, for a play's task list. */
export const debug = (name: string, msg: string) => `    - name: ${name}\n      ansible.builtin.debug:\n        msg: ${msg}\n`;

/** Creates a git repository at `dir` holding `files` in one commit on main; returns the commit. */
export function playbookRepo(dir: string, files: Record<string, string>, message = 'test playbooks'): string {
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const git = (...args: string[]) => execFileSync('git', ['-C', dir, ...args], { encoding: 'utf8' }).trim();
  git('init', '-q', '-b', 'main');
  git('add', '.');
  git('-c', 'user.name=test', '-c', 'user.email=test@example.com', 'commit', '-qm', message);
  return git('rev-parse', 'HEAD');
}

export interface PullOptions {
  /** The receiver the plugin reports to. */
  url: string;
  spool: string;
  checkout: string;
  /** HOME for Ansible's own files; also the working directory. */
  home: string;
  env?: Record<string, string>;
}

/** The ansible-pull command line and environment that run `playbook` from `repo` with the plugin. */
export function ansiblePullCommand(repo: string, playbook: string, opts: PullOptions) {
  return {
    file: ANSIBLE_PULL,
    args: ['-U', `file://${repo}`, '-C', 'main', '-d', opts.checkout, '-i', 'localhost,', playbook],
    cwd: opts.home,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: opts.home,
      LC_ALL: 'C.UTF-8',
      ANSIBLE_NOCOLOR: '1',
      ANSIBLE_LOCALHOST_WARNING: 'false',
      ANSIBLE_CALLBACK_PLUGINS: PLUGIN_DIR,
      ANSIBLE_CALLBACKS_ENABLED: 'webhook_status',
      WEBHOOK_URL: opts.url,
      WEBHOOK_SPOOL_DIR: opts.spool,
      // No detached sender outlives the test; spooled batches wait for the next run.
      WEBHOOK_RETRY_FOR: '0',
      ...opts.env,
    },
  };
}
