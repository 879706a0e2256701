/** Figure 8: what the callback plugin costs a playbook (runs bench/callback-overhead.sh). */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startChild } from './lib/proc.js';
import { round } from './lib/stats.js';

const run = promisify(execFile);
const SCRIPT = join(import.meta.dirname, '..', '..', 'bench', 'callback-overhead.sh');

export interface CallbackResult {
  tasks: number;
  runs: number;
  disabledS: number;
  upS: number;
  downS: number;
  upOverheadPercent: number;
  downAddedS: number;
  /** CPU time (user + system of ansible-playbook and its workers): steadier than wall time on a shared machine. */
  cpu: { disabledS: number; upS: number; downS: number; upOverheadPercent: number };
}

export async function benchCallback(dir: string, tasks: number, runs: number): Promise<CallbackResult | { skipped: string }> {
  if (!existsSync('/usr/bin/ansible-playbook')) return { skipped: 'ansible-playbook is not installed' };
  const receiver = await startChild('src/server.js', { WEBHOOK_DB: join(dir, 'callback.db') });
  try {
    const { stdout } = await run('bash', [SCRIPT], {
      env: { ...process.env, BENCH_RECEIVER_URL: receiver.url, BENCH_TASKS: String(tasks), BENCH_RUNS: String(runs) },
      maxBuffer: 16 * 1024 * 1024,
    });
    const m = /median wall time\s+disabled ([\d.]+) s\s+receiver up ([\d.]+) s\s+receiver down ([\d.]+) s/.exec(stdout);
    if (!m) throw new Error(`cannot parse callback-overhead.sh output:\n${stdout}`);
    const [d, u, n] = [Number(m[1]), Number(m[2]), Number(m[3])];
    const c = /median CPU time\s+disabled ([\d.]+) s\s+receiver up ([\d.]+) s\s+receiver down ([\d.]+) s/.exec(stdout);
    const [cd, cu, cn] = c ? [Number(c[1]), Number(c[2]), Number(c[3])] : [Number.NaN, Number.NaN, Number.NaN];
    return {
      tasks,
      runs,
      disabledS: d,
      upS: u,
      downS: n,
      upOverheadPercent: round((u / d - 1) * 100, 1),
      downAddedS: round(n - d, 2),
      cpu: { disabledS: cd, upS: cu, downS: cn, upOverheadPercent: round((cu / cd - 1) * 100, 1) },
    };
  } finally {
    await receiver.stop();
  }
}
