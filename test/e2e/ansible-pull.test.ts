/**
 * The whole VM side for real: Debian's ansible-pull clones a git repository and runs its playbook
 * with the webhook_status callback plugin, against the receiver running as a process. The run,
 * every task, Ansible's own recap, the no_log promise, signed delivery and the spool across a
 * receiver outage are checked against what Ansible printed and what the receiver stored.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { get } from 'node:http';
import { beforeAll, describe, expect, it } from 'vitest';
import { hostDetailSchema, runDetailSchema, type RunDetail } from '../../src/protocol/api.js';
import { eventually } from '../eventually.js';
import { tempDir } from '../helper.js';
import { requireTool } from '../tools.js';
import { ansiblePullCommand, debug, freePort, play, playbookRepo, PLUGIN_DIR, ROOT, serversKilledAfterEach } from './server-process.js';

const WAIT_SCRIPT = join(ROOT, 'scripts', 'wait-for-webhook.sh');
const HOSTNAME = osHostname(); // what the plugin reports: socket.gethostname()
const NO_LOG_SECRET = `no-log-secret-${randomUUID()}`;
const SIGNING_SECRET = `whsec_${Buffer.from('ansible-pull test signing key 32b').toString('base64')}`;
const WRONG_SECRET = `whsec_${Buffer.from('not the key the receiver knows!!').toString('base64')}`;

const work = tempDir('webhook-ansible-pull-');
const repo = join(work, 'repo');
const proofFile = join(work, 'no-log-proof');
let commit = '';

const PLAYBOOKS: Record<string, string> = {
  // Every kind of outcome, a loop, a block with rescue, a handler and two no_log tasks.
  'site.yml': play(
    'Configure the test VM',
    debug('Greet', 'hello from ansible-pull') +
      '    - name: Run a command\n      ansible.builtin.command: "true"\n' +
      '    - name: Check something\n      ansible.builtin.command: "true"\n      changed_when: false\n' +
      '    - name: Skipped on purpose\n      ansible.builtin.command: "true"\n      when: false\n' +
      '    - name: Use the API token\n      ansible.builtin.shell: "echo {{ api_token }} | tee {{ proof_file }}"\n      no_log: true\n' +
      '    - name: Use the API token and fail\n      ansible.builtin.shell: "echo {{ api_token }} >&2; exit 3"\n      no_log: true\n      ignore_errors: true\n' +
      '    - name: Set a fact\n      ansible.builtin.set_fact:\n        answer: 42\n' +
      '    - name: Loop over items\n      ansible.builtin.debug:\n        msg: "item {{ item }}"\n      loop: [1, 2, 3]\n' +
      '    - name: Tolerated failure\n      ansible.builtin.command: "false"\n      ignore_errors: true\n' +
      '    - name: Recoverable block\n      block:\n        - name: Fails inside the block\n          ansible.builtin.command: "false"\n' +
      '      rescue:\n        - name: Rescue it\n          ansible.builtin.debug:\n            msg: rescued\n' +
      '    - name: Notify a handler\n      ansible.builtin.command: "true"\n      notify: Restart nothing\n' +
      '  handlers:\n' +
      debug('Restart nothing', 'handler ran'),
    `  vars:\n    api_token: "${NO_LOG_SECRET}"\n    proof_file: "${proofFile}"\n`,
  ),
  'fail.yml': play(
    'Configure a broken service',
    debug('Prepare', 'preparing') +
      `    - name: Start the service\n      ansible.builtin.shell: 'echo "Job for demo.service failed because the control process exited with error code." >&2; exit 1'\n` +
      debug('Never reached', 'never'),
  ),
  'quick.yml': play('Quick run', `${debug('One', 'one')}    - name: Two\n      ansible.builtin.command: "true"\n`),
  // Pauses leave time to stop the receiver while the play goes on.
  'slow.yml': play(
    'Slow run',
    debug('Before the outage', 'before') +
      [1, 2, 3, 4].map((i) => `    - name: Pause ${i}\n      ansible.builtin.pause:\n        seconds: 1\n`).join('') +
      debug('After the outage', 'after'),
  ),
};

const SITE_TASKS: Array<[string, string]> = [
  ['Greet', 'ok'],
  ['Run a command', 'changed'],
  ['Check something', 'ok'],
  ['Skipped on purpose', 'skipped'],
  ['Use the API token', 'changed'],
  ['Use the API token and fail', 'ignored'],
  ['Set a fact', 'ok'],
  ['Loop over items', 'ok'],
  ['Tolerated failure', 'ignored'],
  ['Fails inside the block', 'rescued'],
  ['Rescue it', 'ok'],
  ['Notify a handler', 'changed'],
  ['Restart nothing', 'ok'],
];

let enabled = false;
beforeAll(() => {
  enabled = requireTool('ansible-pull') && requireTool('git');
  if (!enabled) return;
  commit = playbookRepo(repo, PLAYBOOKS);
});

const startServer = serversKilledAfterEach();
async function receiver(env: Record<string, string> = {}, db = join(tempDir(), 'webhook.db')) {
  return { server: await startServer({ WEBHOOK_DB: db, ...env }), db };
}

interface PullResult {
  status: number | null;
  output: string;
  ms: number;
}

/** Runs ansible-pull on the test repository with the plugin enabled through the environment. */
function ansiblePull(
  playbook: string,
  opts: { url: string; spool: string; checkout: string; env?: Record<string, string> },
): Promise<PullResult> {
  const started = Date.now();
  const cmd = ansiblePullCommand(repo, playbook, { ...opts, home: work });
  const proc = spawn(cmd.file, cmd.args, { cwd: cmd.cwd, env: cmd.env });
  // Kept apart and joined at the end: Ansible writes warnings to stderr while stdout is still
  // printing, and interleaved chunks would cut through the recap and the warning text.
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) =>
    proc.once('close', (status) => resolve({ status, output: `${stdout}\n${stderr}`, ms: Date.now() - started })),
  );
}

/** Ansible's PLAY RECAP line for localhost, as the protocol's stats object. */
/** True when every character of `needle` appears in `haystack` in order (gaps allowed). */
function inOrder(needle: string, haystack: string): boolean {
  let at = 0;
  for (const ch of needle) {
    at = haystack.indexOf(ch, at);
    if (at < 0) return false;
    at += 1;
  }
  return true;
}

function recap(output: string) {
  const m =
    /^localhost\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)\s+rescued=(\d+)\s+ignored=(\d+)/m.exec(
      output,
    );
  if (!m) throw new Error(`no PLAY RECAP for localhost in:\n${output}`);
  const [ok, changed, unreachable, failed, skipped, rescued, ignored] = m.slice(1).map(Number);
  return { ok, changed, unreachable, failed, skipped, rescued, ignored };
}

/** Task names in the order Ansible announced them (TASK [...] and RUNNING HANDLER [...]). */
const announcedTasks = (output: string) => [...output.matchAll(/^(?:TASK|RUNNING HANDLER) \[(.+)\] \*+$/gm)].map((m) => m[1]);

async function getJson(url: string): Promise<unknown> {
  const res = await fetch(url);
  expect(res.status, url).toBe(200);
  return res.json();
}

const hostDetail = async (url: string) => hostDetailSchema.parse(await getJson(`${url}/hosts/${HOSTNAME}`));
const runDetail = async (url: string, id: string): Promise<RunDetail> => runDetailSchema.parse(await getJson(`${url}/runs/${id}`));

function waitScript(url: string, vm: string) {
  const r = spawnSync('bash', [WAIT_SCRIPT, '--url', url, '--timeout', '10', '--quiet', vm], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '' },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Events stored per run, read from the database file itself. */
function eventsPerRun(db: string) {
  const conn = new Database(db, { readonly: true, fileMustExist: true });
  try {
    return conn
      .prepare(
        `SELECT r.run_id, count(*) AS events, count(DISTINCT e.seq) AS seqs, min(e.seq) AS first, max(e.seq) AS last
         FROM events e JOIN runs r ON r.id = e.run GROUP BY r.run_id`,
      )
      .all() as Array<{ run_id: string; events: number; seqs: number; first: number; last: number }>;
  } finally {
    conn.close();
  }
}

const spoolFiles = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((n) => n.endsWith('.json')) : []);

/** Connections the receiver accepted (this read's own included) and POST /webhook answers so far, from its /metrics. */
async function connectionsAndDeliveries(url: string): Promise<{ connections: number; deliveries: number }> {
  // A connection of its own (no agent), so that this read never rides on one the run opened.
  const text = await new Promise<string>((resolve, reject) => {
    get(`${url}/metrics`, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
  const connections = Number(/^webhook_connections_accepted_total (\d+)$/m.exec(text)?.[1] ?? Number.NaN);
  const deliveries = [...text.matchAll(/^webhook_http_requests_total\{route="\/webhook",method="POST",status="\dxx"\} (\d+)$/gm)]
    .map((m) => Number(m[1]))
    .reduce((a, b) => a + b, 0);
  return { connections, deliveries };
}

describe('ansible-pull with the webhook_status plugin', () => {
  it('reports the run, every task and the recap; keeps no_log secrets; the wait script agrees', async (ctx) => {
    if (!enabled) return ctx.skip();
    const { server, db } = await receiver();
    const before = await connectionsAndDeliveries(server.url);
    // Batches of 4, so the 15 events take several deliveries however fast the play runs.
    const pull = await ansiblePull('site.yml', {
      url: server.url,
      spool: join(work, 'spool-site'),
      checkout: join(work, 'checkout-site'),
      env: { WEBHOOK_BATCH_SIZE: '4' },
    });
    expect(pull.status, pull.output).toBe(0);
    expect(pull.output).not.toContain('webhook_status');
    // The run's deliveries shared one kept-alive connection (the plugin's keep_alive); the second
    // read of the metrics takes one more.
    const after = await connectionsAndDeliveries(server.url);
    expect(after.deliveries - before.deliveries).toBeGreaterThanOrEqual(4);
    expect(after.connections - before.connections - 1).toBe(1);
    // The no_log task really had the secret in its arguments and its output.
    expect(readFileSync(proofFile, 'utf8').trim()).toBe(NO_LOG_SECRET);

    const waited = waitScript(server.url, HOSTNAME);
    expect(waited.status, waited.stderr).toBe(0);
    expect(waited.stdout).toContain(`commit:    ${commit}\n`);

    const host = await hostDetail(server.url);
    expect(host.status).toBe('succeeded');
    expect(host.runs).toHaveLength(1);
    const run = await runDetail(server.url, host.latest_run!.run_id);
    expect(waited.stdout).toContain(`run:       ${run.run_id}\n`);
    expect(run).toMatchObject({ status: 'succeeded', result: 'success', commit, repo_url: `file://${repo}`, check_mode: false });
    expect(run.playbook).toBe(join(work, 'checkout-site', 'site.yml'));
    expect(run.ansible_version).toMatch(/^2\.\d+\.\d+/);

    expect(announcedTasks(pull.output)).toEqual(SITE_TASKS.map(([name]) => name));
    expect(run.task_results.map((t) => [t.task, t.status])).toEqual(SITE_TASKS);
    expect(run.task_results.map((t) => t.seq)).toEqual(SITE_TASKS.map((_, i) => i + 1));
    expect(run.task_results.every((t) => t.play === 'Configure the test VM' && t.target === 'localhost')).toBe(true);
    expect(run.stats).toEqual({ localhost: recap(pull.output) });
    expect(run.tasks).toMatchObject({ total: 13, ok: 6, changed: 3, skipped: 1, ignored: 2, rescued: 1, failed: 0 });

    const hidden = run.task_results.filter((t) => t.task.startsWith('Use the API token'));
    expect(hidden.map((t) => [t.no_log, t.message])).toEqual([
      [true, null],
      [true, null],
    ]);
    expect(run.task_results.find((t) => t.task === 'Tolerated failure')?.message).toMatch(/non-zero return code/);

    // The secret is nowhere: not in any answer, not in the database file or its WAL.
    const pages = [
      '/hosts',
      `/hosts/${HOSTNAME}`,
      '/runs',
      `/runs/${run.run_id}`,
      '/metrics',
      '/',
      `/ui/hosts/${HOSTNAME}`,
      `/ui/runs/${run.run_id}`,
    ];
    for (const page of pages) {
      const res = await fetch(server.url + page);
      expect(res.status, page).toBe(200);
      expect(await res.text(), page).not.toContain(NO_LOG_SECRET);
    }
    for (const file of [db, `${db}-wal`]) {
      if (existsSync(file)) expect(readFileSync(file).includes(NO_LOG_SECRET), file).toBe(false);
    }
    expect(eventsPerRun(db)).toEqual([{ run_id: run.run_id, events: 15, seqs: 15, first: 0, last: 14 }]);
  });

  it('reports a failed run with its failed task; the wait script exits 1 and shows it', async (ctx) => {
    if (!enabled) return ctx.skip();
    const { server } = await receiver();
    const pull = await ansiblePull('fail.yml', { url: server.url, spool: join(work, 'spool-fail'), checkout: join(work, 'checkout-fail') });
    expect(pull.status, pull.output).toBe(2);

    const host = await hostDetail(server.url);
    const run = await runDetail(server.url, host.latest_run!.run_id);
    expect(run).toMatchObject({ status: 'failed', result: 'failed', commit });
    expect(run.task_results.map((t) => [t.task, t.status])).toEqual([
      ['Prepare', 'ok'],
      ['Start the service', 'failed'],
    ]);
    expect(announcedTasks(pull.output)).toEqual(['Prepare', 'Start the service']);
    expect(run.stats).toEqual({ localhost: recap(pull.output) });
    expect(run.stats?.localhost?.failed).toBe(1);

    const waited = waitScript(server.url, HOSTNAME);
    expect(waited.status, waited.stderr).toBe(1);
    expect(waited.stdout).toContain('status:    failed\n');
    expect(waited.stdout).toMatch(
      /failed tasks:\n {2}- \[Configure a broken service\] Start the service \(ansible\.builtin\.shell\) on localhost: failed\n {6}non-zero return code\n {6}Job for demo\.service failed because the control process exited with error code\.\n/,
    );
  });

  it('signs deliveries: the right secret is stored, a wrong one is refused and set aside while the play succeeds', async (ctx) => {
    if (!enabled) return ctx.skip();
    const { server, db } = await receiver({ WEBHOOK_SECRETS: SIGNING_SECRET });
    const spool = join(work, 'spool-signed');
    const checkout = join(work, 'checkout-signed');

    const signed = await ansiblePull('quick.yml', { url: server.url, spool, checkout, env: { WEBHOOK_SECRET: SIGNING_SECRET } });
    expect(signed.status, signed.output).toBe(0);
    expect(signed.output).not.toContain('webhook_status');
    const host = await hostDetail(server.url);
    expect(host.latest_run?.status).toBe('succeeded');
    expect(host.latest_run?.tasks.total).toBe(2);

    const wrong = await ansiblePull('quick.yml', { url: server.url, spool, checkout, env: { WEBHOOK_SECRET: WRONG_SECRET } });
    expect(wrong.status, wrong.output).toBe(0);
    // Ansible wraps warnings at 79 columns, and ansible-pull relays ansible-playbook's stdout and
    // stderr through one stream in chunks, so the warning can come interleaved with the recap:
    // look for its words in order, with anything between them.
    const flat = wrong.output.replace(/\s+/g, '');
    expect(inOrder('[WARNING]:webhook_status:receiverrefused4events,keptin', flat), flat).toBe(true);
    expect(inOrder('/rejected:HTTP401', flat), flat).toBe(true);
    const rejections = server.logs.filter((l) => l.statusCode === 401);
    expect(rejections.length).toBeGreaterThan(0);
    expect(rejections.every((l) => l.code === 'BAD_SIGNATURE')).toBe(true);
    // Nothing of the second run was stored; its events wait in rejected/ for a person to look at.
    expect((await hostDetail(server.url)).runs).toHaveLength(1);
    expect(eventsPerRun(db)).toHaveLength(1);
    expect(spoolFiles(spool)).toEqual([]);
    const rejected = spoolFiles(join(spool, 'rejected'));
    expect(rejected.length).toBeGreaterThan(0);
    const kept = rejected.flatMap(
      (n) => (JSON.parse(readFileSync(join(spool, 'rejected', n), 'utf8')) as { events: Array<{ kind: string }> }).events,
    );
    expect(kept.map((e) => e.kind)).toEqual(['run_started', 'task_result', 'task_result', 'run_finished']);
  });

  it('runs on time with the receiver down from the start; the detached sender delivers once it is back', async (ctx) => {
    if (!enabled) return ctx.skip();
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const spool = join(work, 'spool-first-boot');
    // A first boot runs ansible-pull once: only the detached sender can deliver what was spooled.
    const pull = await ansiblePull('quick.yml', {
      url,
      spool,
      checkout: join(work, 'checkout-first-boot'),
      env: { WEBHOOK_RETRY_FOR: '30' },
    });
    expect(pull.status, pull.output).toBe(0);
    expect(pull.ms).toBeLessThan(15_000);
    expect(spoolFiles(spool).length).toBeGreaterThan(0);

    const { server, db } = await receiver({ WEBHOOK_PORT: String(port) });
    expect(server.url).toBe(url);
    const log = join(spool, 'flush.log');
    // The detached sender logs its end; until then the log may not exist yet.
    await eventually(() => expect(existsSync(log) ? readFileSync(log, 'utf8') : 'no log').toContain('done, exit 0'), {
      timeout: 20_000,
      interval: 200,
    });
    expect(spoolFiles(spool)).toEqual([]);
    const host = await hostDetail(url);
    expect(host.latest_run).toMatchObject({ status: 'succeeded', commit, tasks: expect.objectContaining({ total: 2 }) });
    expect(host.latest_run?.stats).toEqual({ localhost: recap(pull.output) });
    expect(eventsPerRun(db)).toEqual([{ run_id: host.latest_run!.run_id, events: 4, seqs: 4, first: 0, last: 3 }]);
  });

  it('spools through a receiver outage mid-run and delivers it all, once, with the next run', async (ctx) => {
    if (!enabled) return ctx.skip();
    const port = await freePort();
    const db = join(tempDir(), 'webhook.db');
    const spool = join(work, 'spool-outage');
    const checkout = join(work, 'checkout-outage');
    let { server } = await receiver({ WEBHOOK_PORT: String(port) }, db);
    const url = server.url;

    const slow = ansiblePull('slow.yml', { url, spool, checkout, env: { WEBHOOK_FLUSH_TIMEOUT: '1' } });
    // Stop the receiver once the run has reached it; the play goes on.
    await eventually(
      async () => {
        const res = await fetch(`${url}/hosts/${HOSTNAME}`);
        expect(res.status, 'the slow run reached the receiver').toBe(200);
        expect(hostDetailSchema.parse(await res.json()).latest_run, 'the slow run reached the receiver').not.toBeNull();
      },
      { timeout: 20_000, interval: 100 },
    );
    expect(await server.stop('SIGTERM')).toBe(0);
    const outage = await slow;
    expect(outage.status, outage.output).toBe(0);
    // Four 1 s pauses, ansible-pull's own start-up and at most WEBHOOK_FLUSH_TIMEOUT of waiting.
    expect(outage.ms).toBeLessThan(20_000);
    expect(spoolFiles(spool).length).toBeGreaterThan(0);

    ({ server } = await receiver({ WEBHOOK_PORT: String(port) }, db));
    expect(server.url).toBe(url);
    const next = await ansiblePull('quick.yml', { url, spool, checkout });
    expect(next.status, next.output).toBe(0);
    expect(next.output).not.toContain('webhook_status');
    expect(spoolFiles(spool)).toEqual([]);

    const host = await hostDetail(url);
    expect(host.runs.map((r) => [r.playbook?.split('/').pop(), r.status, r.tasks.total])).toEqual([
      ['quick.yml', 'succeeded', 2],
      ['slow.yml', 'succeeded', 6],
    ]);
    const slowRun = await runDetail(url, host.runs[1]!.run_id);
    expect(slowRun.task_results.map((t) => t.task)).toEqual([
      'Before the outage',
      'Pause 1',
      'Pause 2',
      'Pause 3',
      'Pause 4',
      'After the outage',
    ]);
    expect(slowRun.stats).toEqual({ localhost: recap(outage.output) });
    // Nothing missing, nothing doubled: tasks + run_started + run_finished, one event per seq.
    const counts = new Map(eventsPerRun(db).map((r) => [r.run_id, r]));
    expect(counts.get(host.runs[1]!.run_id)).toMatchObject({ events: 8, seqs: 8, first: 0, last: 7 });
    expect(counts.get(host.runs[0]!.run_id)).toMatchObject({ events: 4, seqs: 4, first: 0, last: 3 });

    // The flush command agrees there is nothing left.
    const flush = spawnSync('/usr/bin/python3', [join(PLUGIN_DIR, 'webhook_status.py'), 'flush', '--spool-dir', spool, '--url', url], {
      encoding: 'utf8',
    });
    expect(flush.status, flush.stderr).toBe(0);
  });
});
