/** Runs wrk (C, so the load generator is not the bottleneck on 2 cores) and parses its figures. */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const SCRIPT = join(import.meta.dirname, '..', '..', '..', 'bench', 'wrk-post.lua');

export interface WrkResult {
  requestsPerSec: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
}

function toMs(v: string, unit: string): number {
  const n = Number(v);
  return unit === 'us' ? n / 1000 : unit === 's' ? n * 1000 : n;
}

export async function wrk(url: string, opts: { connections: number; seconds: number; batch?: number }): Promise<WrkResult> {
  // On CPU 1, the servers on CPU 0 (bench/ingest.ts): the figure is the server's alone.
  const { stdout } = await run(
    'taskset',
    ['-c', '1', 'wrk', '-t1', `-c${opts.connections}`, `-d${opts.seconds}s`, '--latency', '-s', SCRIPT, `${url}/webhook`],
    {
      env: { ...process.env, BATCH: String(opts.batch ?? 1), PREFIX: randomBytes(4).toString('hex') },
    },
  );
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(stdout);
  const p99 = /\s99%\s+([\d.]+)(us|ms|s)/.exec(stdout);
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(stdout);
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  if (!rps || !p99) throw new Error(`cannot parse wrk output:\n${stdout}`);
  return {
    requestsPerSec: Number(rps[1]),
    p99Ms: toMs(p99[1]!, p99[2]!),
    non2xx: non2xx ? Number(non2xx[1]) : 0,
    errors: errors
      ? errors
          .slice(1)
          .map(Number)
          .reduce((a, b) => a + b, 0)
      : 0,
  };
}
