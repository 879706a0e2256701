/**
 * Outcomes and drift with real ansible-pull runs: a playbook that manages a file is run on one
 * commit, the file is edited out of band between runs, a command task without changed_when runs
 * three times, and a check-mode run would change the file. What the receiver classified is checked
 * against what Ansible did.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { changesPageSchema, runDiffSchema } from '../../src/protocol/history.js';
import { hostDetailSchema, runDetailSchema, type RunDetail } from '../../src/protocol/api.js';
import { eventually } from '../eventually.js';
import { tempDir } from '../helper.js';
import { requireTool } from '../tools.js';
import { ansiblePullCommand, debug, play, playbookRepo, serversKilledAfterEach } from './server-process.js';

const HOSTNAME = osHostname();
const work = tempDir('webhook-drift-');
const repo = join(work, 'repo');
const managed = join(work, 'managed.conf');
let commit = '';

const PLAYBOOKS: Record<string, string> = {
  'file.yml': play(
    'Manage a file',
    `    - name: Write the managed file\n      ansible.builtin.copy:\n        dest: ${managed}\n        content: "managed by ansible\\n"\n        mode: "0644"\n` +
      debug('Say hello', 'hello'),
  ),
  'command.yml': play('Run a command', '    - name: Not idempotent\n      ansible.builtin.command: "true"\n'),
};

let enabled = false;
beforeAll(() => {
  enabled = requireTool('ansible-pull') && requireTool('git');
  if (enabled) commit = playbookRepo(repo, PLAYBOOKS);
});

const startServer = serversKilledAfterEach();

/** Runs ansible-pull once; resolves with its exit status and output. */
function pull(url: string, playbook: string, check = false): Promise<{ status: number | null; output: string }> {
  const cmd = ansiblePullCommand(repo, playbook, { url, spool: join(work, 'spool'), checkout: join(work, 'checkout'), home: work });
  const args = check ? [...cmd.args.slice(0, -1), '--check', cmd.args.at(-1)!] : cmd.args;
  const proc = spawn(cmd.file, args, { cwd: cmd.cwd, env: cmd.env });
  let output = '';
  proc.stdout.on('data', (d: Buffer) => (output += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (output += d.toString()));
  return new Promise((resolve) => proc.once('close', (status) => resolve({ status, output })));
}

async function getJson(url: string): Promise<unknown> {
  const res = await fetch(url);
  expect(res.status, url).toBe(200);
  return res.json();
}

/** Runs the playbook and returns the receiver's record of that run, once it is finished. */
async function recordedRun(url: string, playbook: string, seen: Set<string>, check = false): Promise<RunDetail> {
  const p = await pull(url, playbook, check);
  expect(p.status, p.output).toBe(0);
  const runId = await eventually(async () => {
    const host = hostDetailSchema.parse(await getJson(`${url}/hosts/${HOSTNAME}`));
    const latest = host.latest_run;
    expect(latest && !seen.has(latest.run_id) && latest.outcome !== null).toBe(true);
    return latest!.run_id;
  });
  seen.add(runId);
  return runDetailSchema.parse(await getJson(`${url}/runs/${runId}`));
}

const changes = (run: RunDetail) => run.task_results.filter((t) => t.status === 'changed').map((t) => [t.task, t.change]);

describe('drift with ansible-pull', () => {
  it('tells intentional, corrective and repeated changes apart and a pending check run', async (ctx) => {
    if (!enabled) return ctx.skip();
    const server = await startServer({ WEBHOOK_DB: join(tempDir(), 'webhook.db') });
    const seen = new Set<string>();

    const r1 = await recordedRun(server.url, 'file.yml', seen);
    expect(r1).toMatchObject({ commit, status: 'succeeded', outcome: 'changed' });
    expect(changes(r1)).toEqual([['Write the managed file', 'intentional']]);

    const r2 = await recordedRun(server.url, 'file.yml', seen);
    expect(r2).toMatchObject({
      commit,
      status: 'succeeded',
      outcome: 'unchanged',
      drift: { intentional: 0, corrective: 0, repeated: 0, other: 0 },
    });

    // Out of band: someone edits the managed file on the VM.
    writeFileSync(managed, 'edited by hand\n');
    const r3 = await recordedRun(server.url, 'file.yml', seen);
    expect(readFileSync(managed, 'utf8')).toBe('managed by ansible\n');
    expect(r3).toMatchObject({ commit, outcome: 'changed', drift: { corrective: 1, intentional: 0, repeated: 0, other: 0 } });
    expect(changes(r3)).toEqual([['Write the managed file', 'corrective']]);
    const diff = runDiffSchema.parse(await getJson(`${server.url}/runs/${r3.run_id}/diff`));
    expect(diff).toMatchObject({ against: r2.run_id, commit: { changed: false } });
    expect(diff.status_changed).toEqual([
      { play: 'Manage a file', task: 'Write the managed file', occurrence: 1, from: 'ok', to: 'changed' },
    ]);

    // A command without changed_when reports changed every time: the third in a row is repeated.
    const cmd = [];
    for (let i = 0; i < 3; i++) cmd.push(await recordedRun(server.url, 'command.yml', seen));
    expect(cmd.map((r) => changes(r))).toEqual([
      [['Not idempotent', 'other']],
      [['Not idempotent', 'other']],
      [['Not idempotent', 'repeated']],
    ]);

    // Check mode after another edit: the run would change the file, and changes nothing.
    writeFileSync(managed, 'edited again\n');
    const check = await recordedRun(server.url, 'file.yml', seen, true);
    expect(check).toMatchObject({ check_mode: true, status: 'succeeded', outcome: 'pending' });
    expect(readFileSync(managed, 'utf8')).toBe('edited again\n');

    const corrective = changesPageSchema.parse(await getJson(`${server.url}/changes?host=${HOSTNAME}&change=corrective`));
    expect(corrective.changes.map((c) => [c.run_id, c.task])).toEqual([[r3.run_id, 'Write the managed file']]);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toContain(`webhook_drift_corrections_total{host="${HOSTNAME}"} 1`);
  }, 180_000);
});
