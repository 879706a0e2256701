/**
 * The Dockerfile, checked without a Docker engine or linter: its stages and runtime settings,
 * the build context .dockerignore lets through, and the HEALTHCHECK command run for real.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startServer } from '../e2e/server-process.js';
import { NODE_FLAGS } from './node-flags.js';

const REPO = join(import.meta.dirname, '..', '..');

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  image: string;
  name: string | undefined;
  body: Instruction[];
}

/** Instructions with line continuations joined and comments dropped, as Docker reads them. */
function parseDockerfile(text: string): Instruction[] {
  const joined = text
    .split('\n')
    .filter((l) => !/^\s*#/.test(l))
    .join('\n')
    .replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0)
    .map((l) => {
      const m = /^(\S+)\s+(.*)$/.exec(l)!;
      return { op: m[1]!.toUpperCase(), args: m[2]!.replace(/\s+/g, ' ') };
    });
}

function stagesOf(instructions: Instruction[]): Stage[] {
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.op === 'FROM') {
      const [image, as, name] = ins.args.split(' ');
      stages.push({ image: image!, name: as?.toUpperCase() === 'AS' ? name : undefined, body: [] });
    } else {
      stages.at(-1)?.body.push(ins);
    }
  }
  return stages;
}

const instructions = parseDockerfile(readFileSync(join(REPO, 'Dockerfile'), 'utf8'));
const stages = stagesOf(instructions);
const build = stages[0]!;
const runtime = stages.at(-1)!;
const args = (stage: Stage, op: string) => stage.body.filter((i) => i.op === op).map((i) => i.args);

/** ENV lines in either form (KEY=value pairs, or KEY value) as one map. */
function envOf(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const a of args(stage, 'ENV')) {
    if (a.includes('=')) for (const m of a.matchAll(/(\w+)=(\S+)/g)) env[m[1]!] = m[2]!;
    else env[a.split(' ')[0]!] = a.split(' ').slice(1).join(' ');
  }
  return env;
}

describe('Dockerfile stages', () => {
  it('builds on node:20-bookworm and runs on node:20-bookworm-slim', () => {
    expect(stages.map((s) => s.image)).toEqual(['node:20-bookworm', 'node:20-bookworm-slim']);
    expect(build.name).toBe('build');
  });

  it('compiles better-sqlite3, builds and prunes dev dependencies in the build stage', () => {
    const run = args(build, 'RUN').join('\n');
    expect(run).toMatch(/apt-get install .*python3 make g\+\+/);
    expect(run).toContain('npm ci');
    expect(run).toContain('npm run build');
    expect(run).toContain('npm prune --omit=dev');
  });

  it('copies only built output into the runtime stage, from the build stage', () => {
    const copies = args(runtime, 'COPY');
    expect(copies.every((c) => c.startsWith('--from=build '))).toBe(true);
    for (const path of ['/src/dist', '/src/node_modules', '/src/migrations', '/src/package.json']) {
      expect(copies.some((c) => c.includes(`${path} `))).toBe(true);
    }
    expect(args(runtime, 'RUN').join('\n')).not.toMatch(/npm (ci|install)|g\+\+/);
  });
});

describe('Dockerfile runtime', () => {
  it('runs as a non-root user that it creates', () => {
    const users = args(runtime, 'USER');
    expect(users.length).toBeGreaterThan(0);
    const user = users.at(-1)!.split(':')[0]!;
    expect(['root', '0']).not.toContain(user);
    expect(args(runtime, 'RUN').join('\n')).toContain(`--uid ${user}`);
  });

  it('keeps the database in a volume and listens on 9191 on all interfaces', () => {
    const env = envOf(runtime);
    expect(env.WEBHOOK_DB).toBe('/var/lib/webhook/webhook.db');
    expect(env.WEBHOOK_HOST).toBe('0.0.0.0');
    expect(args(runtime, 'VOLUME')).toEqual(['/var/lib/webhook']);
    expect(args(runtime, 'EXPOSE')).toEqual(['9191']);
  });

  it('starts the server in exec form so node gets SIGTERM directly', () => {
    expect(JSON.parse(args(runtime, 'CMD')[0]!)).toEqual(['node', ...NODE_FLAGS.split(' '), 'dist/src/server.js']);
  });
});

/** .dockerignore as Docker applies it: patterns in order, the last match wins, `!` re-includes. */
function ignoredByDockerignore(path: string): boolean {
  const patterns = readFileSync(join(REPO, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !l.startsWith('#'));
  const toRegex = (glob: string) =>
    new RegExp(
      `^${glob
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*\*\//g, '(?:.*/)?')
        .replace(/\*/g, '[^/]*')}$`,
    );
  // A pattern that matches a folder also matches everything in it.
  const prefixes = path.split('/').map((_, i, parts) => parts.slice(0, i + 1).join('/'));
  let ignored = false;
  for (const p of patterns) {
    const negated = p.startsWith('!');
    const re = toRegex(negated ? p.slice(1) : p);
    if (prefixes.some((x) => re.test(x))) ignored = !negated;
  }
  return ignored;
}

/** Paths the Dockerfile copies from the build context. */
const fromContext = instructions
  .filter((i) => i.op === 'COPY' && !i.args.startsWith('--from'))
  .flatMap((i) => i.args.split(' ').slice(0, -1));

describe('.dockerignore', () => {
  it('lets through everything the Dockerfile copies from the context', () => {
    expect(fromContext).toContain('src');
    for (const path of [...fromContext, 'src/server.ts', 'migrations/001_initial.sql']) {
      expect(ignoredByDockerignore(path), path).toBe(false);
    }
  });

  it('keeps local builds, dependencies, databases and git out of the context', () => {
    for (const path of [
      'node_modules/fastify/package.json',
      'dist/src/server.js',
      '.git/HEAD',
      'data/webhook.db',
      'src/local.db',
      'test/helper.ts',
    ]) {
      expect(ignoredByDockerignore(path), path).toBe(true);
    }
  });
});

describe('HEALTHCHECK', () => {
  const healthcheck = args(runtime, 'HEALTHCHECK')[0]!;
  const command = JSON.parse(/CMD (\[.*\])$/.exec(healthcheck)![1]!) as string[];
  const tmp = mkdtempSync(join(tmpdir(), 'webhook-docker-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  /** Runs the healthcheck command with the container's node and WEBHOOK_PORT. */
  function probe(port: number): number | null {
    expect(command[0]).toBe('node');
    const r = spawnSync(process.execPath, command.slice(1), { env: { WEBHOOK_PORT: String(port) }, timeout: 10_000 });
    return r.status;
  }

  it('asks /healthz with a timeout shorter than its own', () => {
    expect(command.join(' ')).toContain('/healthz');
    expect(healthcheck).toMatch(/--timeout=5s/);
  });

  it('passes against the running receiver', async () => {
    const server = await startServer({ WEBHOOK_DB: join(tmp, 'webhook.db') });
    try {
      expect(probe(Number(new URL(server.url).port))).toBe(0);
    } finally {
      await server.stop();
    }
  });

  it('fails when nothing answers', async () => {
    const s = createServer();
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    const { port } = s.address() as { port: number };
    await new Promise((resolve) => s.close(resolve));
    expect(probe(port)).toBe(1);
  });
});

describe('build context', () => {
  const dir = mkdtempSync(join(tmpdir(), 'webhook-docker-context-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('builds from only what the build stage copies, into the tree the runtime stage takes', () => {
    for (const path of fromContext) {
      cpSync(join(REPO, path), join(dir, path), {
        recursive: true,
        filter: (p) => !ignoredByDockerignore(relative(REPO, p) || '.'),
      });
    }
    // Stands in for the stage's npm ci.
    symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'));
    const built = spawnSync('npm', ['run', 'build'], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
    expect(built.status, `${built.stdout}${built.stderr}`).toBe(0);

    for (const copy of args(runtime, 'COPY')) {
      for (const src of copy.split(' ').slice(1, -1)) {
        expect(existsSync(join(dir, relative('/src', src))), src).toBe(true);
      }
    }
    // The pages' compiled script and stylesheet travel inside dist/.
    for (const file of ['dist/browser/live.js', 'dist/browser/style.css']) expect(existsSync(join(dir, file)), file).toBe(true);
    // The image's layout (/app/dist next to /app/migrations) finds the migrations.
    const migrated = spawnSync(process.execPath, ['dist/src/cli.js', 'migrate'], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', WEBHOOK_DB: join(dir, 'data', 'webhook.db') },
      encoding: 'utf8',
    });
    expect(migrated.status, migrated.stderr).toBe(0);
    expect(migrated.stdout).toMatch(/applied migrations 1/);
  }, 120_000);
});
