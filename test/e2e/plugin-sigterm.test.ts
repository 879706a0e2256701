/** webhook_status: a run stopped with SIGTERM (timeout, systemctl stop, a cancelled CI job) still ends as failed. */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { hostDetailSchema } from '../../src/protocol/api.js';
import { tempDir } from '../helper.js';
import { requireTool } from '../tools.js';
import { ROOT, startServer, type ServerProcess } from './server-process.js';

let server: ServerProcess | undefined;
afterAll(async () => server?.stop('SIGKILL'));

it('ends a run stopped by SIGTERM with a failed run_finished', async () => {
  if (!requireTool('ansible-pull')) return;
  const work = tempDir('webhook-sigterm-');
  const repo = join(work, 'repo');
  mkdirSync(repo);
  writeFileSync(join(repo, 'hang.yml'), '- name: Hang\n  hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n' +
    '    - name: First\n      ansible.builtin.debug:\n        msg: first\n    - name: Hang\n      ansible.builtin.command: sleep 60\n');
  const git = (...a: string[]) => execFileSync('git', ['-C', repo, ...a]);
  git('init', '-q', '-b', 'main'); git('add', '.'); git('-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '-qm', 'hang');

  server = await startServer({ WEBHOOK_DB: join(work, 'webhook.db') });
  const spool = join(work, 'spool');
  const pull = spawn('/usr/bin/ansible-pull', ['-U', `file://${repo}`, '-d', join(work, 'checkout'), '-i', 'localhost,', 'hang.yml'], {
    detached: true, // its own process group, like a systemd unit or `timeout ansible-pull ...`
    stdio: 'ignore',
    env: { PATH: process.env.PATH ?? '', HOME: work, LC_ALL: 'C.UTF-8', ANSIBLE_CALLBACK_PLUGINS: join(ROOT, 'ansible', 'callback_plugins'),
      ANSIBLE_CALLBACKS_ENABLED: 'webhook_status', WEBHOOK_URL: server.url, WEBHOOK_SPOOL_DIR: spool, WEBHOOK_RETRY_FOR: '0' },
  });
  const exited = new Promise((resolve) => pull.once('exit', (code, signal) => resolve(code ?? signal)));
  const latest = async () => {
    const res = await fetch(`${server!.url}/hosts/${hostname()}`);
    return res.status === 200 ? hostDetailSchema.parse(await res.json()).latest_run : null;
  };
  for (let i = 0; i < 150 && !((await latest())?.tasks.total); i++) await new Promise((r) => setTimeout(r, 100));
  expect((await latest())?.tasks.total).toBe(1); // "First" reported, "Hang" running

  process.kill(-pull.pid!, 'SIGTERM'); // what `timeout`, `systemctl stop` and a cancelled CI job send
  await exited;
  await new Promise((r) => setTimeout(r, 3000));

  // Without the plugin's SIGTERM handler the run would stay "running" until stale, and
  // wait-for-webhook.sh could only time out.
  expect(readdirSync(spool).filter((n) => n.endsWith('.json'))).toEqual([]);
  expect(await latest()).toMatchObject({ status: 'failed', result: 'failed', stats: {} });
});
