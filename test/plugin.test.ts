/** The callback plugin's own unit checks (test/plugin/, Python unittest) under Debian's python3, which ansible uses. */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { requireTool } from './tools.js';

const REPO = join(import.meta.dirname, '..');
const PYTHON = '/usr/bin/python3';

function runUnittest(): Promise<{ status: number | string | null; output: string }> {
  return new Promise((resolve) => {
    execFile(
      PYTHON,
      ['-m', 'unittest', 'discover', '-s', 'test/plugin', '-v'],
      // No __pycache__ in the checkout; a hung check fails here instead of at vitest's timeout.
      { cwd: REPO, timeout: 25_000, env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } },
      (error, stdout, stderr) => {
        const status = error ? (error.code ?? error.signal ?? null) : 0;
        resolve({ status, output: `${stdout}${stderr}` });
      },
    );
  });
}

describe('webhook_status callback plugin', () => {
  it('passes its Python unit checks', async (ctx) => {
    if (!requireTool(PYTHON)) return ctx.skip();
    const { status, output } = await runUnittest();
    if (status !== 0) console.error(output);
    expect(status, output).toBe(0);
    expect(output).toMatch(/^OK/m);
  });
});
