/**
 * deploy.sh into a staging root (--root): the tree it builds, an upgrade that keeps the
 * configuration and the data, the staged service actually starting, and uninstall.
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  appendFileSync,
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../e2e/server-process.js';
import { requireTool } from '../tools.js';
import { NODE_FLAGS } from './node-flags.js';

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
    expect(unit).toMatch(new RegExp(`^ExecStart=/\\S*node ${NODE_FLAGS} /opt/webhook-receiver/dist/src/server\\.js$`, 'm'));
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

describe('deploy.sh and the Node.js it runs on', () => {
  const OS_RELEASE: Record<string, string> = {
    'debian-13':
      'PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nNAME="Debian GNU/Linux"\nVERSION_ID="13"\nVERSION="13 (trixie)"\nVERSION_CODENAME=trixie\nID=debian\n',
    'debian-12':
      'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\n',
  };
  const base = mkdtempSync(join(tmpdir(), 'webhook-deploy-node-'));
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  // The host's commands without node, npm and apt: a system where Node.js is not installed.
  const hostBin = join(base, 'host-bin');
  mkdirSync(hostBin);
  const hidden = new Set(['node', 'nodejs', 'npm', 'npx', 'corepack', 'apt', 'apt-get']);
  for (const name of readdirSync('/usr/bin')) if (!hidden.has(name)) symlinkSync(join('/usr/bin', name), join(hostBin, name));

  const script = (path: string, text: string) => {
    writeFileSync(path, `#!/bin/bash\n${text}\n`);
    chmodSync(path, 0o755);
  };
  /** A node that reports `version`, or the real one when `version` is left out. */
  const fakeNode = (path: string, version?: string) =>
    script(path, version ? `[[ $1 == -p ]] && echo ${version}` : `exec ${process.execPath} "$@"`);

  interface Host {
    os: keyof typeof OS_RELEASE;
    /** node already on PATH before deploy.sh runs, by version ('real' for this machine's). */
    node?: string;
    /** What apt-get install nodejs npm leaves: a node of that version ('real'), or failure. */
    apt?: string | 'fails';
  }

  /** Runs deploy.sh --root on a stubbed host; returns its result and the apt-get calls it made. */
  function deployOn(host: Host, name: string) {
    const dir = join(base, name);
    const stubs = join(dir, 'stubs');
    const installed = join(dir, 'usr-bin'); // where Debian's packages would put node and npm
    mkdirSync(stubs, { recursive: true });
    mkdirSync(installed);
    const osRelease = join(dir, 'os-release');
    writeFileSync(osRelease, OS_RELEASE[host.os]!);
    if (host.node) fakeNode(join(stubs, 'node'), host.node === 'real' ? undefined : host.node);
    const calls = join(dir, 'apt-get.calls');
    writeFileSync(calls, '');
    const installs =
      host.apt === 'fails'
        ? 'echo "E: Could not open lock file /var/lib/dpkg/lock-frontend - open (13: Permission denied)" >&2; exit 100'
        : host.apt === 'real' || host.apt === undefined
          ? `printf '#!/bin/bash\\nexec ${process.execPath} "$@"\\n' >${installed}/node; printf '#!/bin/bash\\nexec /usr/bin/npm "$@"\\n' >${installed}/npm; chmod +x ${installed}/node ${installed}/npm`
          : `printf '#!/bin/bash\\n[[ $1 == -p ]] && echo ${host.apt}\\n' >${installed}/node; chmod +x ${installed}/node`;
    script(join(stubs, 'apt-get'), `echo "$*" >>${calls}\n[[ $1 == install ]] || exit 0\n${installs}`);
    const r = spawnSync('bash', [DEPLOY, '--root', join(dir, 'root'), '--no-build'], {
      cwd: REPO,
      encoding: 'utf8',
      timeout: 120_000,
      env: { PATH: [stubs, installed, hostBin].join(':'), HOME: dir, DEPLOY_OS_RELEASE: osRelease },
    });
    const aptCalls = readFileSync(calls, 'utf8').split('\n').filter(Boolean);
    return {
      status: r.status,
      stdout: r.stdout,
      stderr: r.stderr,
      output: `${r.stdout}\n${r.stderr}`,
      aptCalls,
      installed,
      root: join(dir, 'root'),
    };
  }

  it("on Debian 13 without node, installs Debian's nodejs and npm and runs on that node", () => {
    const r = deployOn({ os: 'debian-13' }, 'trixie');
    expect(r.status, r.output).toBe(0);
    expect(r.aptCalls).toEqual(['update -q', 'install -y -q nodejs npm']);
    expect(r.stdout).toContain("node was not found on PATH; installing Debian's nodejs and npm (apt-get install -y nodejs npm)");
    expect(r.stdout).toContain(`using Node.js ${process.versions.node} at ${r.installed}/node`);
    expect(r.output).not.toContain('nodesource');
    const unit = readFileSync(join(r.root, 'etc', 'systemd', 'system', 'webhook.service'), 'utf8');
    expect(unit).toContain(`ExecStart=${r.installed}/node ${NODE_FLAGS} /opt/webhook-receiver/dist/src/server.js`);
  }, 120_000);

  it('on Debian 13 with a recent enough node, installs nothing', () => {
    const r = deployOn({ os: 'debian-13', node: 'real' }, 'trixie-with-node');
    expect(r.status, r.output).toBe(0);
    expect(r.aptCalls).toEqual([]);
    expect(r.stdout).toContain(`using Node.js ${process.versions.node}`);
  }, 120_000);

  it('on Debian 13, replaces an older node, and says so clearly when one is still found after', () => {
    const r = deployOn({ os: 'debian-13', node: '18.19.0', apt: '18.19.0' }, 'trixie-old-source');
    expect(r.status).toBe(1);
    expect(r.aptCalls).toEqual(['update -q', 'install -y -q nodejs npm']);
    expect(r.stdout).toContain("is Node.js 18.19.0; installing Debian's nodejs and npm");
    expect(r.stderr).toContain('error: after apt-get install nodejs npm, ');
    expect(r.stderr).toContain('is Node.js 18.19.0');
    expect(r.stderr).toContain('apt-cache policy nodejs');
    expect(r.stderr).not.toContain('nodesource');
  });

  it('on Debian 13, stops with the command to run when apt-get cannot install', () => {
    const r = deployOn({ os: 'debian-13', apt: 'fails' }, 'trixie-not-root');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('error: apt-get install -y nodejs npm failed (deploy.sh must run as root to install them)');
    expect(r.stderr).toContain('  apt-get install -y nodejs npm\n');
  });

  it("on Debian 12, never installs Debian's 18.x: an old node stops with the NodeSource route", () => {
    const r = deployOn({ os: 'debian-12', node: '18.19.0' }, 'bookworm-old');
    expect(r.status).toBe(1);
    expect(r.aptCalls).toEqual([]);
    expect(r.stderr).toMatch(/^error: \S+\/node is Node\.js 18\.19\.0$/m);
    expect(r.stderr).toContain("The receiver needs Node.js >= 20.19. Debian 12's own nodejs package is 18.x, too old.");
    expect(r.stderr).toContain('curl -fsSL https://deb.nodesource.com/setup_20.x -o /root/nodesource_setup.sh');
  });

  it('on Debian 12 without node, points to NodeSource and installs nothing', () => {
    const r = deployOn({ os: 'debian-12' }, 'bookworm-none');
    expect(r.status).toBe(1);
    expect(r.aptCalls).toEqual([]);
    expect(r.stderr).toContain('error: node was not found on PATH');
    expect(r.stderr).toContain('bash /root/nodesource_setup.sh');
  });
});

describe('shellcheck', () => {
  it('finds nothing in deploy.sh, scripts/*.sh and the test fixtures', (ctx) => {
    if (!requireTool('shellcheck')) return ctx.skip();
    const inDir = (dir: string, keep: (f: string) => boolean) =>
      existsSync(dir)
        ? readdirSync(dir)
            .filter(keep)
            .map((f) => join(dir, f))
        : [];
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
