/** The benchmark's smoke mode runs in the suite so it cannot rot; its figures are printed, not asserted. */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { requireTool } from './tools.js';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..');

describe('npm run bench -- --quick', () => {
  it('measures every figure and writes bench/results.json', async () => {
    if (!requireTool('wrk')) return;
    const { stdout } = await run(process.execPath, [join(ROOT, 'dist', 'bench', 'run.js'), '--quick'], { cwd: ROOT, timeout: 150_000 });
    for (const figure of [
      '1 ingest, single events',
      '2 ingest, batches',
      '3 durable',
      '4 fleet simulation',
      '5 GET /hosts/:host',
      '5 start-up',
      '6 waiters',
      '6 waiters, absolute',
      '7 peak RSS',
      '8 callback',
      '9 status pages',
      '10 retention by value',
      '11 steady state, 10000 VMs',
      '11 steady state, database growth',
    ]) {
      expect(stdout).toContain(figure);
    }
    const results = JSON.parse(readFileSync(join(ROOT, 'bench', 'results.json'), 'utf8'));
    expect(results.mode).toBe('quick');
    expect(results.ingest.single.receiverReqPerSec).toBeGreaterThan(0);
    expect(results.ingest.single.non2xx).toBe(0);
    expect(results.fleet.run.errors).toBe(0);
    expect(results.waiters.answered).toBe(results.waiters.waiters);
    expect(results.waiters.p99Ratio).toBeGreaterThan(0);
    expect(results.steady.receiver.load.errors).toBe(0);
    expect(results.steady.receiver.load.requests).toBeGreaterThan(0);
    expect(results.steady.sample.bytesPerCheckin).toBeGreaterThan(0);
    expect(results.steady.perDay.totalMb).toBeGreaterThan(0);
  }, 180_000);
});
