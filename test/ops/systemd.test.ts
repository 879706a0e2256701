/** The systemd unit: systemd's own checks, the settings deploy.sh relies on, and wait-ready.mjs. */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { requireTool } from '../tools.js';
import { NODE_FLAGS } from './node-flags.js';

const REPO = join(import.meta.dirname, '..', '..');
const UNIT = join(REPO, 'systemd', 'webhook.service');
const WAIT_READY = join(REPO, 'systemd', 'wait-ready.mjs');
const unitText = readFileSync(UNIT, 'utf8');

const tmp = mkdtempSync(join(tmpdir(), 'webhook-systemd-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The unit as deploy.sh installs it: /usr/bin/node replaced by the node it found. */
function unitWithNode(node: string): string {
  const dir = mkdtempSync(join(tmp, 'unit-'));
  const path = join(dir, 'webhook.service');
  writeFileSync(path, unitText.replaceAll('/usr/bin/node ', `${node} `));
  return path;
}

function analyze(args: string[]) {
  const r = spawnSync('systemd-analyze', args, { encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}

/** Key=value pairs of the unit, in order, comments dropped. */
function directives(text: string): Array<[string, string]> {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !l.startsWith('#') && !l.startsWith('['))
    .map((l) => {
      const i = l.indexOf('=');
      return [l.slice(0, i), l.slice(i + 1)] as [string, string];
    });
}

function values(key: string): string[] {
  return directives(unitText)
    .filter(([k]) => k === key)
    .map(([, v]) => v);
}

describe('systemd-analyze', () => {
  it('verify finds nothing to complain about in the unit as deploy.sh installs it', (ctx) => {
    if (!requireTool('systemd-analyze')) return ctx.skip();
    // verify prints unknown keys and bad values as warnings but still exits 0: demand silence.
    expect(analyze(['verify', unitWithNode(process.execPath)])).toEqual({ status: 0, output: '' });
  });

  it('verify does check the unit: a missing node binary is an error', (ctx) => {
    if (!requireTool('systemd-analyze')) return ctx.skip();
    const r = analyze(['verify', unitWithNode(join(tmp, 'no-such-dir', 'node'))]);
    expect(r.status).not.toBe(0);
    expect(r.output).toContain('is not executable');
  });

  it('security exposure is 2.0 or lower', (ctx) => {
    if (!requireTool('systemd-analyze')) return ctx.skip();
    const r = analyze(['security', '--offline=true', '--no-pager', unitWithNode(process.execPath)]);
    expect(r.status, r.output).toBe(0);
    const m = /Overall exposure level for webhook\.service: (\d+\.\d+)/.exec(r.output);
    expect(m, r.output).not.toBeNull();
    expect(Number(m![1]), r.output).toBeLessThanOrEqual(2.0);
  });
});

describe('webhook.service', () => {
  it('runs the built server as the webhook user from /opt/webhook-receiver', () => {
    expect(values('ExecStart')).toEqual([`/usr/bin/node ${NODE_FLAGS} /opt/webhook-receiver/dist/src/server.js`]);
    expect(values('ExecStartPost')).toEqual(['/usr/bin/node /opt/webhook-receiver/systemd/wait-ready.mjs']);
    expect(values('User')).toEqual(['webhook']);
    expect(values('WorkingDirectory')).toEqual(['/opt/webhook-receiver']);
    expect(values('EnvironmentFile')).toEqual(['/etc/webhook/webhook.env']);
    expect(values('StateDirectory')).toEqual(['webhook']);
    expect(values('Environment')).toContain('WEBHOOK_DB=/var/lib/webhook/webhook.db');
  });

  it('lets the env file override the defaults: Environment= comes before EnvironmentFile=', () => {
    const keys = directives(unitText).map(([k]) => k);
    expect(keys.lastIndexOf('Environment')).toBeLessThan(keys.indexOf('EnvironmentFile'));
  });

  it('restarts on failure and stops with SIGTERM within 30 s', () => {
    expect(values('Type')).toEqual(['exec']);
    expect(values('Restart')).toEqual(['on-failure']);
    expect(values('KillSignal')).toEqual(['SIGTERM']);
    expect(values('TimeoutStopSec')).toEqual(['30']);
    // ExecStartPost= waits up to 30 s, which the start timeout must leave room for.
    expect(Number(values('TimeoutStartSec')[0])).toBeGreaterThan(30);
  });

  it('leaves V8 its writable and executable memory', () => {
    expect(values('MemoryDenyWriteExecute')).toEqual([]);
  });
});

describe('wait-ready.mjs', () => {
  const servers: Server[] = [];
  afterAll(() => {
    for (const s of servers) s.close();
  });

  /** A server whose /readyz answers 503 `notReadyFor` times, then 200. */
  async function readyzServer(notReadyFor: number): Promise<number> {
    let calls = 0;
    const server = createServer((req, res) => {
      res.statusCode = req.url === '/readyz' ? (calls++ < notReadyFor ? 503 : 200) : 404;
      res.end();
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return (server.address() as AddressInfo).port;
  }

  function waitReady(args: string[], env: Record<string, string>) {
    return new Promise<{ code: number | null; stderr: string; ms: number }>((resolve) => {
      const started = Date.now();
      const proc = spawn(process.execPath, [WAIT_READY, ...args], {
        env: { PATH: process.env.PATH ?? '', ...env },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      proc.on('exit', (code) => resolve({ code, stderr, ms: Date.now() - started }));
    });
  }

  it('waits through 503s until /readyz answers 200, using the service variables', async () => {
    const port = await readyzServer(3);
    const r = await waitReady([], { WEBHOOK_HOST: '0.0.0.0', WEBHOOK_PORT: String(port) });
    expect(r.stderr).toContain(`http://127.0.0.1:${port}/readyz answered 200`);
    expect(r.code).toBe(0);
  });

  it('gives up after --timeout', async () => {
    const port = await readyzServer(Number.POSITIVE_INFINITY);
    const r = await waitReady(['--timeout', '1'], { WEBHOOK_PORT: String(port) });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('not ready after 1 s (status 503)');
  });

  it('stops waiting when the main process is gone', async () => {
    const port = await readyzServer(Number.POSITIVE_INFINITY);
    // A pid that exited: the child of a finished spawnSync.
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    const r = await waitReady(['--timeout', '20'], { WEBHOOK_PORT: String(port), MAINPID: String(dead) });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`main process ${dead} exited`);
    expect(r.ms).toBeLessThan(10_000);
  });
});
