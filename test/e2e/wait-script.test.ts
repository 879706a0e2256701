/**
 * scripts/wait-for-webhook.sh against the real receiver: waiting through a run to its end,
 * a failed run with its failed task, timeout, nothing listening, --since, the read token,
 * transient errors, and shellcheck.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../eventually.js';
import { host, runEvents, tempDir } from '../helper.js';
import { requireTool } from '../tools.js';
import { freePort, ROOT, serversKilledAfterEach } from './server-process.js';

const SCRIPT = join(ROOT, 'scripts', 'wait-for-webhook.sh');

const startServer = serversKilledAfterEach();
let fake: Server | undefined;
afterEach(async () => {
  await new Promise((resolve) => (fake ? fake.close(resolve) : resolve(undefined)));
  fake = undefined;
});

interface ScriptResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

interface RunningScript {
  done: Promise<ScriptResult>;
  /** Resolves once stderr matches. */
  stderrMatches: (re: RegExp, timeoutMs?: number) => Promise<void>;
}

/** Starts the script with a clean environment (no WEBHOOK_* of the caller leaks in). */
function startScript(args: string[], env: Record<string, string> = {}): RunningScript {
  const started = Date.now();
  const proc = spawn('bash', [SCRIPT, ...args], { env: { PATH: process.env.PATH ?? '', HOME: tempDir(), ...env } });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<ScriptResult>((resolve) =>
    proc.once('close', (code) => resolve({ code, stdout, stderr, ms: Date.now() - started })),
  );
  const stderrMatches = async (re: RegExp, timeoutMs = 10_000) => {
    await eventually(() => expect(stderr).toMatch(re), { timeout: timeoutMs, interval: 50 });
  };
  return { done, stderrMatches };
}

const runScript = (args: string[], env: Record<string, string> = {}) => startScript(args, env).done;

async function postEvents(url: string, events: unknown[], headers: Record<string, string> = {}) {
  const res = await fetch(`${url}/webhook`, {
    method: 'POST',
    body: JSON.stringify({ events }),
    headers: { 'content-type': 'application/json', ...headers },
  });
  expect(res.status).toBe(200);
}


/** A stand-in receiver answering from a list of canned (status, body) pairs, the last one repeated. */
async function cannedServer(answers: Array<[number, string]>): Promise<{ url: string; requests: string[] }> {
  const requests: string[] = [];
  fake = createHttpServer((req, res) => {
    requests.push(req.url ?? '');
    const [status, body] = answers[Math.min(requests.length - 1, answers.length - 1)]!;
    res.writeHead(status, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((resolve) => fake!.listen(0, '127.0.0.1', resolve));
  const { port } = fake.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, requests };
}

const vm = (hostname: string, vmid: number) => host({ hostname, machine_id: undefined, vmid, ips: ['10.1.0.21'] });

/** Resolves once the receiver holds `n` long-polls (its webhook_waiters gauge). */
async function waitersAt(url: string, n: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const text = await (await fetch(`${url}/metrics`)).text();
    if (new RegExp(`^webhook_waiters ${n}$`, 'm').test(text)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the receiver never held ${n} long-poll(s)`);
}

/** The wrapper's check-in of one ansible-pull invocation (see docs/protocol.md). */
const checkin = (h: ReturnType<typeof vm>, result: string, error?: string) => ({
  v: 1,
  kind: 'checkin',
  event_id: randomUUID(),
  run_id: randomUUID(),
  seq: 0,
  time: new Date().toISOString(),
  host: h,
  data: { result, exit_code: result === 'pull_failed' ? 128 : 0, duration_ms: 900, ...(error ? { error } : {}) },
});

// The script's own dependencies.
const ready = requireTool('curl') && requireTool('python3');

describe.skipIf(!ready)('wait-for-webhook.sh', () => {
  it('--help explains the options and every exit code', async () => {
    const r = await runScript(['--help']);
    expect(r.code).toBe(0);
    for (const option of ['--url', '--timeout', '--since', '--token-file', '--poll', '--retries', '--fleet', '--keep-going', '--quiet', 'WEBHOOK_URL', 'WEBHOOK_READ_TOKEN']) {
      expect(r.stdout).toContain(option);
    }
    for (const code of ['0', '1', '2', '3', '4', '64']) expect(r.stdout).toMatch(new RegExp(`^  ${code} +\\S`, 'm'));
  });

  it('refuses bad usage with 64', async () => {
    expect((await runScript([])).code).toBe(64);
    expect((await runScript(['--timeout', 'soon', 'web-01'])).code).toBe(64);
    expect((await runScript(['--bogus', 'web-01'])).code).toBe(64);
    expect((await runScript(['--fleet', 'web-01'])).code).toBe(64);
    expect((await runScript(['web-01', 'bad/name'])).code).toBe(64);
  });

  it('waits through a run in progress, shows progress on stderr and exits 0 when it succeeds', async () => {
    const server = await startServer({ WEBHOOK_DB: join(tempDir(), 'webhook.db') });
    const r = runEvents({ host: vm('web-07', 107) });
    await postEvents(server.url, [r.started({ commit: '3f2a9c1b7d4e5f60718293a4b5c6d7e8f9012345' }), r.task('ok'), r.task('changed')]);

    const script = startScript(['--poll', '1', '--timeout', '60', '107'], { WEBHOOK_URL: server.url });
    // Two polls answered 202 while the run goes on.
    await script.stderrMatches(/web-07: run \w{8} running, 2 tasks done[\s\S]*web-07: run \w{8} running, 2 tasks done/);
    await postEvents(server.url, [r.task('skipped'), r.finished()]);
    const res = await script.done;

    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toMatch(/^wait-for-webhook\.sh: \[\d\d:\d\d\] web-07: run \w{8} running, 2 tasks done$/m);
    expect(res.stdout).toContain(`run:       ${r.runId}\n`);
    expect(res.stdout).toContain('status:    succeeded\n');
    expect(res.stdout).toContain('host:      web-07 (107, 10.1.0.21)\n');
    expect(res.stdout).toContain('commit:    3f2a9c1b7d4e5f60718293a4b5c6d7e8f9012345\n');
    expect(res.stdout).toContain('tasks:     3 total: 1 ok, 1 changed, 0 failed, 1 skipped, 0 unreachable, 0 rescued, 0 ignored\n');
    expect(res.stdout).toContain('duration:  1.2s\n');
    expect(res.stdout).not.toContain('failed tasks');
    expect(res.stdout).not.toContain('wait-for-webhook');
  });

  it('exits 1 on a failed run and prints its failed task with the message', async () => {
    const server = await startServer({ WEBHOOK_DB: join(tempDir(), 'webhook.db') });
    const r = runEvents({ host: vm('db-01', 102) });
    await postEvents(server.url, [
      r.started(),
      r.task('ok', 'Install postgres'),
      r.task('failed', 'Start postgres', 'Job for postgresql.service failed\nSee journalctl -xeu postgresql.service'),
      r.finished(1),
    ]);
    const res = await runScript(['--url', server.url, '--quiet', 'db-01']);
    expect(res.code, res.stderr).toBe(1);
    expect(res.stderr).toBe('');
    expect(res.stdout).toContain('status:    failed\n');
    expect(res.stdout).toContain(
      'failed tasks:\n' +
        '  - [Configure] Start postgres (ansible.builtin.command) on localhost: failed\n' +
        '      Job for postgresql.service failed\n' +
        '      See journalctl -xeu postgresql.service\n',
    );
  });

  it('exits 2 at the timeout, saying how far the run got', async () => {
    const server = await startServer({ WEBHOOK_DB: join(tempDir(), 'webhook.db') });
    const r = runEvents({ host: vm('web-08', 108) });
    await postEvents(server.url, [r.started(), r.task('ok')]);
    const res = await runScript(['--url', server.url, '--timeout', '2', '--poll', '1', 'web-08']);
    expect(res.code, res.stderr).toBe(2);
    expect(res.stdout).toBe('');
    expect(res.stderr).toMatch(/timed out after 2s: web-08: run \w{8} running, 1 task done$/m);
    expect(res.ms).toBeGreaterThanOrEqual(1000);
    expect(res.ms).toBeLessThan(8000);
  });

  it('exits 3 when nothing listens, after retrying with backoff', async () => {
    const port = await freePort();
    const res = await runScript(['--url', `http://127.0.0.1:${port}`, '--retries', '2', 'web-01']);
    expect(res.code).toBe(3);
    expect(res.stderr).toMatch(/retry 1 of 2 in 1s[\s\S]*retry 2 of 2 in 2s/);
    expect(res.stderr).toMatch(/unreachable after 3 attempts: curl: \(7\)/);
    expect(res.ms).toBeGreaterThanOrEqual(3000);
  });

  it('rides out a few 5xx answers, but gives 3 when they persist', async () => {
    // What the receiver answers a script (text/plain) for a finished run.
    const finished = 'status=succeeded\nhost:      web-09\nrun:       7d2c3a1e-9b8f-4e6d-a5c4-3b2a1f0e9d8c\n';
    const flaky = await cannedServer([
      [503, '{"statusCode":503,"code":"UNAVAILABLE","error":"Service Unavailable","message":"database busy"}'],
      [502, '<html>bad gateway</html>'],
      [200, finished],
    ]);
    const ok = await runScript(['--url', flaky.url, '--retries', '3', 'web-09']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toMatch(/HTTP 503: database busy\); retry 1 of 3[\s\S]*HTTP 502: <html>bad gateway<\/html>\); retry 2 of 3/);
    expect(flaky.requests).toHaveLength(3);
    await new Promise((resolve) => fake!.close(resolve));

    const down = await cannedServer([[503, '{"message":"database busy"}']]);
    const res = await runScript(['--url', down.url, '--retries', '1', 'web-09']);
    expect(res.code).toBe(3);
    expect(res.stderr).toMatch(/unreachable after 2 attempts: HTTP 503: database busy$/m);
  });

  it('exits 3 on an answer that is not the receiver\'s', async () => {
    const other = await cannedServer([[200, '<html>a router login page</html>']]);
    const res = await runScript(['--url', other.url, 'web-01']);
    expect(res.code).toBe(3);
    expect(res.stderr).toMatch(/unexpected answer .*HTTP 200: <html>a router login page<\/html>.*is this the webhook receiver\?/);
  });

  it('--since ignores a run that started before it', async () => {
    const server = await startServer({ WEBHOOK_DB: join(tempDir(), 'webhook.db') });
    const hour = 3600_000;
    const old = runEvents({ host: vm('web-10', 110), start: Date.now() - hour });
    await postEvents(server.url, [old.started(), old.finished()]);
    const since = String(Math.floor((Date.now() - 60_000) / 1000));

    const ignored = await runScript(['--url', server.url, '--since', since, '--timeout', '1', 'web-10']);
    expect(ignored.code).toBe(2);
    expect(ignored.stderr).toMatch(new RegExp(`web-10 is known \\(succeeded\\), no run started since ${since} yet`));
    // Without --since the old run answers at once.
    const any = await runScript(['--url', server.url, '--timeout', '1', 'web-10']);
    expect(any.code).toBe(0);
    expect(any.stdout).toContain(old.runId);

    const fresh = runEvents({ host: vm('web-10', 110) });
    await postEvents(server.url, [fresh.started(), fresh.task('failed'), fresh.finished(1)]);
    const iso = new Date(Number(since) * 1000).toISOString();
    const res = await runScript(['--url', server.url, '--since', iso, '--timeout', '5', 'web-10']);
    expect(res.code).toBe(1);
    expect(res.stdout).toContain(`run:       ${fresh.runId}\n`);

    const bad = await runScript(['--url', server.url, '--since', 'yesterday', 'web-10']);
    expect(bad.code).toBe(64);
    expect(bad.stderr).toContain('since: expected an ISO 8601 time or Unix seconds');
  });

  it('sends the read token from a file or the environment, never on a command line, and exits 4 without it', async () => {
    const token = 'read-token-0123456789abcdef';
    const dir = tempDir();
    const server = await startServer({ WEBHOOK_DB: join(dir, 'webhook.db'), WEBHOOK_READ_TOKEN: token });
    const r = runEvents({ host: vm('web-11', 111) });
    await postEvents(server.url, [r.started(), r.finished()]);

    // A curl first on PATH that records its arguments before running the real one.
    const bin = join(dir, 'bin');
    const realCurl = spawnSync('sh', ['-c', 'command -v curl'], { encoding: 'utf8' }).stdout.trim();
    spawnSync('mkdir', ['-p', bin]);
    writeFileSync(join(bin, 'curl'), `#!/bin/sh\nprintf '%s\\n' "$*" >> ${join(dir, 'argv.log')}\nexec ${realCurl} "$@"\n`);
    chmodSync(join(bin, 'curl'), 0o755);
    const PATH = `${bin}:${process.env.PATH ?? ''}`;

    const refused = await runScript(['--url', server.url, 'web-11'], { PATH });
    expect(refused.code).toBe(4);
    expect(refused.stderr).toContain('needs "Authorization: Bearer <read token>"');

    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
    const fromFile = await runScript(['--url', server.url, '--token-file', tokenFile, 'web-11'], { PATH });
    expect(fromFile.code, fromFile.stderr).toBe(0);
    const fromEnv = await runScript(['--url', server.url, 'web-11'], { PATH, WEBHOOK_READ_TOKEN: token });
    expect(fromEnv.code, fromEnv.stderr).toBe(0);
    const fromFileEnv = await runScript(['--url', server.url, 'web-11'], { PATH, WEBHOOK_READ_TOKEN_FILE: tokenFile });
    expect(fromFileEnv.code, fromFileEnv.stderr).toBe(0);

    const wrong = await runScript(['--url', server.url, 'web-11'], { PATH, WEBHOOK_READ_TOKEN: 'not-the-token' });
    expect(wrong.code).toBe(4);

    const argv = readFileSync(join(dir, 'argv.log'), 'utf8');
    expect(argv.split('\n').filter(Boolean)).toHaveLength(5);
    expect(argv).not.toContain(token);
    expect(argv).not.toContain('not-the-token');
  });

  it('ends within seconds with exit 1 when a VM\'s pull failed, with git\'s error', async () => {
    const server = await startServer({ WEBHOOK_DB: join(tempDir(), 'webhook.db') });
    // One long-poll as long as the whole wait: only the receiver waking it can end it with 1, not 2.
    const script = startScript(['--url', server.url, '--poll', '120', '--timeout', '120', 'web-12']);
    await waitersAt(server.url, 1);
    await postEvents(server.url, [checkin(vm('web-12', 112), 'pull_failed', "fatal: repository 'https://git.example/infra.git/' not found")]);
    const res = await script.done;
    expect(res.code, res.stderr).toBe(1);
    expect(res.stdout).toContain("web-12 pull-failed: ansible-pull could not get the playbook repository (exit 128): fatal: repository 'https://git.example/infra.git/' not found");
    expect(res.stdout).toMatch(/^next: Check the repository URL/m);
  });

  it('waits for several VMs with one long-poll: exit 1 at the first failure, one line per VM', async () => {
    const server = await startServer({ WEBHOOK_DB: join(tempDir(), 'webhook.db') });
    const good = runEvents({ host: vm('web-13', 113) });
    await postEvents(server.url, [good.started(), good.finished()]);
    const script = startScript(['--url', server.url, '--poll', '1', '--timeout', '60', 'web-13', 'web-14', 'web-15']);
    await script.stderrMatches(/\d pending: web-14 web-15/);
    const bad = runEvents({ host: vm('web-14', 114) });
    await postEvents(server.url, [bad.started(), bad.task('failed'), bad.finished(1)]);
    const res = await script.done;
    expect(res.code, res.stderr).toBe(1);
    expect(res.stdout.split('\n')).toEqual([
      'web-13 succeeded the latest run succeeded',
      'web-14 failed the latest run failed (exit ?, 1 failed task(s))',
      'web-15 never-reported not known to the receiver yet',
      '',
    ]);
  });

  it('--keep-going waits for every VM; a timeout names the VMs still pending (exit 2)', async () => {
    const server = await startServer({ WEBHOOK_DB: join(tempDir(), 'webhook.db') });
    const bad = runEvents({ host: vm('web-16', 116) });
    await postEvents(server.url, [bad.started(), bad.finished(1)]);
    const res = await runScript(['--url', server.url, '--poll', '1', '--timeout', '2', '--keep-going', 'web-16', 'web-17']);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('still pending: web-17');
    expect(res.stdout).toContain('web-16 failed');
    const good = runEvents({ host: vm('web-17', 117) });
    await postEvents(server.url, [good.started(), good.finished()]);
    const done = await runScript(['--url', server.url, '--timeout', '10', '--keep-going', 'web-16', 'web-17']);
    expect(done.code).toBe(1);
    expect(done.stdout).toContain('web-17 succeeded');
  });

  it('needs no python: the receiver writes what it prints', async () => {
    const dir = tempDir();
    const server = await startServer({ WEBHOOK_DB: join(dir, 'webhook.db') });
    const r = runEvents({ host: vm('web-18', 118) });
    await postEvents(server.url, [r.started(), r.task('failed', 'Start app', 'boom'), r.finished(1)]);
    // Interpreters first on PATH that record being run.
    const bin = join(dir, 'bin');
    spawnSync('mkdir', ['-p', bin]);
    for (const name of ['python3', 'python']) {
      writeFileSync(join(bin, name), `#!/bin/sh\necho ran >> ${join(dir, 'python.log')}\nexit 1\n`);
      chmodSync(join(bin, name), 0o755);
    }
    const res = await runScript(['--url', server.url, '--timeout', '5', 'web-18'], { PATH: `${bin}:${process.env.PATH ?? ''}` });
    expect(res.code, res.stderr).toBe(1);
    expect(res.stdout).toContain('  - [Configure] Start app (ansible.builtin.command) on localhost: failed\n      boom\n');
    expect(existsSync(join(dir, 'python.log'))).toBe(false);
  });

  it('is shellcheck clean', async (ctx) => {
    if (!requireTool('shellcheck')) return ctx.skip();
    const r = spawnSync('shellcheck', [SCRIPT], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
