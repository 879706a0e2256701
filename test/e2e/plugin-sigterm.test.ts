/** webhook_status: a run stopped with SIGTERM (timeout, systemctl stop, a cancelled CI job) still ends as failed. */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { hostDetailSchema } from '../../src/protocol/api.js';
import { eventually } from '../eventually.js';
import { tempDir } from '../helper.js';
import { requireTool } from '../tools.js';
import { ansiblePullCommand, debug, play, playbookRepo, serversKilledAfterEach } from './server-process.js';

const startServer = serversKilledAfterEach();

it('ends a run stopped by SIGTERM with a failed run_finished', async () => {
  if (!requireTool('ansible-pull')) return;
  const work = tempDir('webhook-sigterm-');
  const repo = join(work, 'repo');
  playbookRepo(repo, { 'hang.yml': play('Hang', `${debug('First', 'first')}    - name: Hang\n      ansible.builtin.command: sleep 60\n`) }, 'hang');

  const server = await startServer({ WEBHOOK_DB: join(work, 'webhook.db') });
  const spool = join(work, 'spool');
  const cmd = ansiblePullCommand(repo, 'hang.yml', { url: server.url, spool, checkout: join(work, 'checkout'), home: work });
  const pull = spawn(cmd.file, cmd.args, {
    cwd: cmd.cwd,
    env: cmd.env,
    detached: true, // its own process group, like a systemd unit or `timeout ansible-pull ...`
    stdio: 'ignore',
  });
  const exited = new Promise((resolve) => pull.once('exit', (code, signal) => resolve(code ?? signal)));
  const latest = async () => {
    const res = await fetch(`${server.url}/hosts/${hostname()}`);
    return res.status === 200 ? hostDetailSchema.parse(await res.json()).latest_run : null;
  };
  // "First" reported, "Hang" running.
  await eventually(async () => expect((await latest())?.tasks.total).toBe(1), { timeout: 15_000, interval: 100 });

  process.kill(-pull.pid!, 'SIGTERM'); // what `timeout`, `systemctl stop` and a cancelled CI job send
  await exited;

  // Without the plugin's SIGTERM handler the run would stay "running" until stale, and
  // wait-for-webhook.sh could only time out. ansible-playbook may report after ansible-pull exits.
  await eventually(async () => {
    expect(readdirSync(spool).filter((n) => n.endsWith('.json'))).toEqual([]);
    expect(await latest()).toMatchObject({ status: 'failed', result: 'failed', stats: {} });
  }, { timeout: 10_000, interval: 100 });
});
