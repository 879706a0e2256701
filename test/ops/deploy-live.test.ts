/**
 * deploy.sh without --root: the live path (useradd, chown, runuser, systemctl, the readiness
 * wait, journal on failure), run as root inside private mount, network and pid namespaces so the
 * host's /etc, /opt, /var/lib and port 9191 are never touched. systemctl is faked
 * (test/ops/fixtures/fake-systemctl); the unit's own sandboxing is checked by systemd.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { requireTool } from '../tools.js';
import { NODE_FLAGS } from './node-flags.js';

const REPO = join(import.meta.dirname, '..', '..');
const SCRIPT = join(REPO, 'test', 'ops', 'fixtures', 'live-deploy.sh');
const work = mkdtempSync(join(tmpdir(), 'webhook-live-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const UNSHARE = ['--mount', '--net', '--pid', '--fork', '--mount-proc'];

/** Root and namespaces are needed; CI has both, so there a lack of them is a failure. */
function canSandbox(): boolean {
  const isRoot = process.getuid?.() === 0;
  const works = isRoot && spawnSync('unshare', [...UNSHARE, 'true']).status === 0;
  if (works) return true;
  const why = isRoot ? 'unshare cannot create namespaces here' : 'it needs root';
  if (process.env.CI === 'true') throw new Error(`the live deploy test cannot run: ${why}`);
  console.warn(`skipping the live deploy test: ${why}`);
  return false;
}

describe('deploy.sh on a live host (namespaced)', () => {
  it('installs, upgrades, reports a failed start, uninstalls and purges', (ctx) => {
    expect(existsSync(join(REPO, 'dist', 'src', 'server.js')), 'run npm run build').toBe(true);
    for (const tool of ['unshare', 'ip', 'runuser', 'useradd']) if (!requireTool(tool)) return ctx.skip();
    if (!canSandbox()) return ctx.skip();
    const r = spawnSync('unshare', [...UNSHARE, 'bash', SCRIPT, work], {
      encoding: 'utf8',
      timeout: 150_000,
      env: { ...process.env, NODE_FLAGS },
    });
    const output = `${r.stdout}${r.stderr}`;
    expect(r.status, output).toBe(0);
    expect(output).toContain('all live deploy checks passed');
    expect(output).not.toContain('FAIL:');
  }, 180_000);
});
