/**
 * deploy.sh into a staging root (--root): the tree it builds, an upgrade that keeps the
 * configuration and the data, the staged service actually starting, and uninstall.
 */
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../e2e/server-process.js';
import { requireTool } from '../tools.js';

const REPO = join(import.meta.dirname, '..', '..');
const DEPLOY = join(REPO, 'deploy.sh');
const root = mkdtempSync(join(tmpdir(), 'webhook-deploy-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const app = join(root, 'opt', 'webhook-receiver');
const envFile = join(root, 'etc', 'webhook', 'webhook.env');
const dbFile = join(root, 'var', 'lib', 'webhook', 'webhook.db');
const unitFile = join(root, 'etc', 'systemd', 'system', 'webhook.service');

function deploy(...args: string[]) {
  const r = spawnSync('bash', [DEPLOY, ...args], { cwd: REPO, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, output: `${r.stdout}\n${r.stderr}` };
}

const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);
const secretOf = (text: string) => /^WEBHOOK_SECRETS=(whsec_\S+)$/m.exec(text)?.[1];

/** The env file as systemd reads it, for the simple KEY=value lines deploy.sh writes. */
function envFromFile(path: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) env[m[1]!] = m[2]!;
  }
  return env;
}


describe('deploy.sh --root', () => {
  it('needs a built dist/ (npm test builds it first)', () => {
    expect(existsSync(join(REPO, 'dist', 'src', 'server.js')), 'run npm run build').toBe(true);
    expect(existsSync(join(REPO, 'dist', 'src', 'cli.js')), 'run npm run build').toBe(true);
  });

  it('installs the application, unit, configuration and database', () => {
    const r = deploy('--root', root, '--no-build');
    expect(r.status, r.output).toBe(0);

    expect(existsSync(join(app, 'dist', 'src', 'server.js'))).toBe(true);
    expect(existsSync(join(app, 'dist', 'src', 'cli.js'))).toBe(true);
    expect(existsSync(join(app, 'migrations', '001_initial.sql'))).toBe(true);
    expect(existsSync(join(app, 'systemd', 'wait-ready.mjs'))).toBe(true);
    expect(existsSync(join(app, 'node_modules', 'better-sqlite3'))).toBe(true);
    // Production dependencies only.
    expect(existsSync(join(app, 'node_modules', 'vitest'))).toBe(false);
    expect(existsSync(join(app, 'node_modules', 'typescript'))).toBe(false);
    expect(existsSync(`${app}.new`)).toBe(false);

    const unit = readFileSync(unitFile, 'utf8');
    expect(unit).toMatch(/^ExecStart=\/\S*node \/opt\/webhook-receiver\/dist\/src\/server\.js$/m);
    expect(mode(unitFile)).toBe('644');

    const env = readFileSync(envFile, 'utf8');
    expect(secretOf(env)).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(secretOf(env)!.slice('whsec_'.length), 'base64')).toHaveLength(32);
    expect(env).toMatch(/^#WEBHOOK_PORT=9191$/m);
    expect(mode(envFile)).toBe('640');
    expect(mode(join(root, 'etc', 'webhook'))).toBe('750');
    expect(mode(join(root, 'var', 'lib', 'webhook'))).toBe('750');
    // The staging tree never prints the secret.
    expect(r.output).not.toContain(secretOf(env)!);

    // Owners that --root cannot set are recorded for whoever packages the tree.
    const owners = readFileSync(join(root, 'ownership.list'), 'utf8');
    expect(owners).toContain('webhook:webhook 0750 /var/lib/webhook\n');
    expect(owners).toContain('root:webhook 0750 /etc/webhook\n');
    expect(owners).toContain('root:webhook 0640 /etc/webhook/webhook.env\n');

    const db = new Database(dbFile, { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBeGreaterThanOrEqual(1);
    db.close();
  }, 120_000);

  it('upgrades in place, keeping the env file and the data, with a backup first', () => {
    const secretBefore = secretOf(readFileSync(envFile, 'utf8'));
    appendFileSync(envFile, '# operator marker\n');
    const db = new Database(dbFile);
    db.exec('CREATE TABLE ops_test_marker (note TEXT)');
    db.prepare('INSERT INTO ops_test_marker VALUES (?)').run('kept across deploys');
    db.close();

    const r = deploy('--root', root, '--no-build');
    expect(r.status, r.output).toBe(0);
    expect(r.stdout).toContain('keeping');

    const env = readFileSync(envFile, 'utf8');
    expect(env).toContain('# operator marker\n');
    expect(secretOf(env)).toBe(secretBefore);
    expect(mode(envFile)).toBe('640');
    const after = new Database(dbFile, { readonly: true });
    expect(after.prepare('SELECT note FROM ops_test_marker').all()).toEqual([{ note: 'kept across deploys' }]);
    after.close();

    const backups = readdirSync(join(root, 'var', 'lib', 'webhook', 'backups'));
    expect(backups).toHaveLength(1);
    expect(backups[0]).toMatch(/^webhook-\d{8}T\d{6}Z\.db$/);
    expect(existsSync(join(app, 'dist', 'src', 'server.js'))).toBe(true);
    expect(existsSync(`${app}.previous`)).toBe(true);
  }, 120_000);

  it('staged a tree that starts, gets ready and stops cleanly on SIGTERM', async () => {
    const port = await freePort();
    const env = {
      PATH: process.env.PATH ?? '',
      ...envFromFile(envFile),
      WEBHOOK_DB: dbFile,
      WEBHOOK_HOST: '127.0.0.1',
      WEBHOOK_PORT: String(port),
      NODE_ENV: 'production',
    };
    const server = spawn(process.execPath, [join(app, 'dist', 'src', 'server.js')], {
      cwd: app,
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    server.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => server.once('exit', (code) => resolve(code)));
    try {
      const ready = spawnSync(process.execPath, [join(app, 'systemd', 'wait-ready.mjs'), '--timeout', '20'], {
        env: { ...env, MAINPID: String(server.pid) },
        encoding: 'utf8',
      });
      expect(ready.status, `${ready.stderr}\n${stderr}`).toBe(0);
    } finally {
      server.kill('SIGTERM');
    }
    expect(await exited, stderr).toBe(0);
  }, 60_000);

  it('uninstalls the application and keeps configuration and data', () => {
    const r = deploy('--uninstall', '--root', root);
    expect(r.status, r.output).toBe(0);
    expect(existsSync(app)).toBe(false);
    expect(existsSync(`${app}.previous`)).toBe(false);
    expect(existsSync(unitFile)).toBe(false);
    expect(readFileSync(envFile, 'utf8')).toContain('# operator marker\n');
    const db = new Database(dbFile, { readonly: true });
    expect(db.prepare('SELECT count(*) AS n FROM ops_test_marker').get()).toEqual({ n: 1 });
    db.close();
  });

  it('--purge also removes configuration and data', () => {
    const r = deploy('--uninstall', '--purge', '--root', root);
    expect(r.status, r.output).toBe(0);
    expect(existsSync(join(root, 'etc', 'webhook'))).toBe(false);
    expect(existsSync(join(root, 'var', 'lib', 'webhook'))).toBe(false);
  });
});

describe('deploy.sh arguments', () => {
  it('--help explains the options', () => {
    const r = deploy('--help');
    expect(r.status).toBe(0);
    for (const opt of ['--root DIR', '--no-build', '--uninstall', '--purge']) expect(r.stdout).toContain(opt);
  });

  it('refuses unknown arguments and --purge without --uninstall', () => {
    expect(deploy('--bogus').status).not.toBe(0);
    const r = deploy('--purge', '--root', join(root, 'unused'));
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('--purge only goes with --uninstall');
  });

  it('asks for the Node version package.json asks for', () => {
    const engines = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node;
    const script = readFileSync(DEPLOY, 'utf8');
    const major = /^readonly NODE_MIN_MAJOR=(\d+)$/m.exec(script)?.[1];
    const minor = /^readonly NODE_MIN_MINOR=(\d+)$/m.exec(script)?.[1];
    expect(`>=${major}.${minor}`).toBe(engines);
  });
});

describe('shellcheck', () => {
  it('finds nothing in deploy.sh, scripts/*.sh and the test fixtures', (ctx) => {
    if (!requireTool('shellcheck')) return ctx.skip();
    const inDir = (dir: string, keep: (f: string) => boolean) =>
      existsSync(dir) ? readdirSync(dir).filter(keep).map((f) => join(dir, f)) : [];
    const scripts = [
      ...inDir(join(REPO, 'scripts'), (f) => f.endsWith('.sh')),
      ...inDir(join(REPO, 'test', 'ops', 'fixtures'), (f) => f.endsWith('.sh') || f.startsWith('fake-')),
    ];
    expect(scripts.length).toBeGreaterThanOrEqual(3);
    const r = spawnSync('shellcheck', ['-x', DEPLOY, ...scripts], { encoding: 'utf8' });
    expect(`${r.stdout}${r.stderr}`).toBe('');
    expect(r.status).toBe(0);
  });
});
