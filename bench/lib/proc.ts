/** Starting the receiver (or the baseline) as a child process, and reading its CPU and memory. */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export const DIST = join(import.meta.dirname, '..', '..');
const CLK_TCK = 100;

export interface Child {
  url: string;
  proc: ChildProcess;
  readyMs: number;
  rssMb: () => number;
  /** CPU seconds (user + system) used so far. */
  cpuSeconds: () => number;
  stop: () => Promise<void>;
}

export function rssMb(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
  } catch {
    return 0;
  }
}

function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}

export interface ChildOptions {
  /** Pins the process to this CPU with taskset, so a load generator can have the other one. */
  cpu?: number;
  /** Extra node flags, such as --trace-gc. */
  nodeArgs?: string[];
  /** Sees every line the child prints on stdout. */
  onLine?: (line: string) => void;
}

/**
 * The node flags the service runs with (package.json's start script; the systemd unit and the
 * image use the same): every server the benchmark starts, the receiver and its baselines alike.
 */
export const SERVICE_NODE_FLAGS: string[] = (() => {
  const pkg = JSON.parse(readFileSync(join(DIST, '..', 'package.json'), 'utf8')) as { scripts: { start: string } };
  return pkg.scripts.start.split(' ').filter((word) => word.startsWith('--'));
})();

/** Spawns `script` (relative to dist/) and resolves once it logs that it is ready. */
export async function startChild(script: string, env: Record<string, string> = {}, options: ChildOptions = {}): Promise<Child> {
  const started = performance.now();
  const args = [...SERVICE_NODE_FLAGS, ...(options.nodeArgs ?? []), join(DIST, script)];
  // taskset execs node, so the pid is still node's.
  const [cmd, argv] =
    options.cpu === undefined ? [process.execPath, args] : ['taskset', ['-c', String(options.cpu), process.execPath, ...args]];
  const proc = spawn(cmd, argv, {
    env: {
      PATH: process.env.PATH ?? '',
      WEBHOOK_HOST: '127.0.0.1',
      WEBHOOK_PORT: '0',
      WEBHOOK_RATE_LIMIT: '0',
      WEBHOOK_LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    proc.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      options.onLine?.(line);
      if (line.includes('"webhook receiver ready"')) resolve(String((JSON.parse(line) as { address: string }).address));
    });
  });
  const readyMs = performance.now() - started;
  const pid = proc.pid!;
  return {
    url,
    proc,
    readyMs,
    rssMb: () => rssMb(pid),
    cpuSeconds: () => cpuSeconds(pid),
    stop: () =>
      new Promise((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGTERM');
      }),
  };
}

/** Samples a child's RSS every 100 ms; returns a function that stops and gives the peak. */
export function trackPeak(child: Child): () => number {
  let peak = child.rssMb();
  const timer = setInterval(() => (peak = Math.max(peak, child.rssMb())), 100);
  return () => {
    clearInterval(timer);
    return Math.max(peak, child.rssMb());
  };
}

export interface PinnedOptions {
  /** Sees every line the script prints on stdout, with the process (to write to its stdin). */
  onLine?: (line: string, proc: ChildProcess) => void;
}

/**
 * Runs `script` (relative to dist/) on CPU `cpu` with one JSON argument, as a load generator beside
 * a server pinned to the other core; resolves with the JSON of its `<prefix> {...}` line.
 */
export function runPinned<T>(script: string, cpu: number, arg: unknown, prefix: string, options: PinnedOptions = {}): Promise<T> {
  return new Promise((resolve, reject) => {
    const proc = spawn('taskset', ['-c', String(cpu), process.execPath, join(DIST, script), JSON.stringify(arg)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let result: T | undefined;
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      if (line.startsWith(`${prefix} `)) result = JSON.parse(line.slice(prefix.length + 1)) as T;
      else options.onLine?.(line, proc);
    });
    // 'close', not 'exit': the last line may still be in the pipe when the process exits.
    proc.once('close', (code) => (result === undefined ? reject(new Error(`${script} exited with ${code}`)) : resolve(result)));
  });
}
