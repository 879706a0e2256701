/**
 * What the kernel sees of a listening socket during a run: its accept queue (`ss -ltn`, Recv-Q
 * against the backlog in Send-Q), the TCP counters of refused and retried connections (`nstat`),
 * and a process's write system calls (/proc/<pid>/io). The receiver's own metrics cannot show any
 * of this: time spent before a connection is accepted happens outside it.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const COUNTERS = ['TcpExtListenOverflows', 'TcpExtListenDrops', 'TcpExtTCPSynRetrans', 'TcpActiveOpens'] as const;
export type TcpCounters = Record<(typeof COUNTERS)[number], number>;

/** Absolute, machine-wide TCP counters; diff two readings for a run. */
export function tcpCounters(): TcpCounters {
  const c = Object.fromEntries(COUNTERS.map((k) => [k, 0])) as TcpCounters;
  let out = '';
  try {
    out = execFileSync('nstat', ['-az', ...COUNTERS], { encoding: 'utf8' });
  } catch {
    // No nstat (iproute2): the counters read as 0 and the run still measures the rest.
  }
  for (const line of out.split('\n')) {
    const [name, value] = line.trim().split(/\s+/);
    if (name && name in c) c[name as keyof TcpCounters] = Number(value);
  }
  return c;
}

export function diffCounters(a: TcpCounters, b: TcpCounters): TcpCounters {
  return Object.fromEntries(COUNTERS.map((k) => [k, b[k] - a[k]])) as TcpCounters;
}

/** Connections waiting in the listening socket's accept queue on `port` (Recv-Q of `ss -ltn`). */
export function acceptQueue(port: number): number {
  const out = execFileSync('ss', ['-ltnH', `sport = :${port}`], { encoding: 'utf8' });
  const fields = out.trim().split(/\s+/);
  return Number(fields[1] ?? 0);
}

/** Samples the accept queue every `ms`; returns a function that stops and gives the samples. */
export function sampleAcceptQueue(port: number, ms = 500): () => number[] {
  const samples: number[] = [];
  const timer = setInterval(() => {
    try {
      samples.push(acceptQueue(port));
    } catch {
      // ss missing or the socket gone: the run says so by having no samples.
    }
  }, ms);
  return () => {
    clearInterval(timer);
    return samples;
  };
}

export interface ProcIo {
  /** write-type system calls (write, pwrite64, writev...). */
  syscw: number;
  /** bytes passed to them. */
  wchar: number;
  /** bytes sent to the storage layer. */
  writeBytes: number;
}

export function procIo(pid: number): ProcIo {
  const text = readFileSync(`/proc/${pid}/io`, 'utf8');
  const field = (name: string) => Number(new RegExp(`${name}: (\\d+)`).exec(text)?.[1] ?? 0);
  return { syscw: field('syscw'), wchar: field('wchar'), writeBytes: field('write_bytes') };
}

/** The main thread's time on a CPU and waiting for one (ns), from /proc/<pid>/task/<pid>/schedstat. */
export function schedStat(pid: number): { runNs: number; waitNs: number } {
  const [run, wait] = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').trim().split(/\s+/).map(Number);
  return { runNs: run ?? 0, waitNs: wait ?? 0 };
}

/**
 * Samples the main thread's scheduler state every `ms`: R (running or waiting for a CPU),
 * S (sleeping: idle in epoll or waiting on a lock), D (blocked in the kernel, usually on disk).
 */
export function sampleThreadState(pid: number, ms = 50): () => Record<string, number> {
  const counts: Record<string, number> = {};
  const timer = setInterval(() => {
    try {
      const state = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8').split(') ')[1]![0]!;
      counts[state] = (counts[state] ?? 0) + 1;
    } catch {
      // The process is gone: the samples so far stand.
    }
  }, ms);
  return () => {
    clearInterval(timer);
    return counts;
  };
}

/** One CPU's time counters from /proc/stat (clock ticks): all of it, and what the hypervisor took. */
export function cpuTimes(cpu: number): { total: number; steal: number } {
  const line = readFileSync('/proc/stat', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`cpu${cpu} `));
  // user nice system idle iowait irq softirq steal guest guest_nice; guest time is inside user.
  const f = (line ?? '').trim().split(/\s+/).slice(1, 9).map(Number);
  return { total: f.reduce((a, b) => a + b, 0), steal: f[7] ?? 0 };
}

/**
 * Share of a CPU's time the hypervisor gave to other guests between two readings, in percent.
 * A virtual machine's task looks as if it ran while its CPU was stolen, so neither schedstat nor
 * CPU time shows it; on a shared host it is what moves a figure from one run to the next.
 */
export function stealPercent(a: ReturnType<typeof cpuTimes>, b: ReturnType<typeof cpuTimes>): number {
  const total = b.total - a.total;
  return total > 0 ? Math.round(((b.steal - a.steal) / total) * 100) : 0;
}

/**
 * The most descriptors one process may open (the hard limit, which Node raises its soft limit to
 * at start): a receiver holding a kept-alive connection per VM needs one each, and so does the
 * load generator.
 */
export function openFilesLimit(): number {
  const line = /^Max open files\s+\S+\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  return line?.[1] === undefined || line[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(line[1]);
}
