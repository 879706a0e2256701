/**
 * Figure 6: many concurrent long-polls: their memory, and how fast all answer when the run
 * finishes, against bare Fastify holding the same requests. Each server runs on CPU 0 and the
 * client (bench/waiters-client.ts) in its own process on CPU 1, so the wake-up is the server's.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { cpuTimes, schedStat, stealPercent } from './lib/kernel.js';
import { type Child, runPinned, startChild, trackPeak } from './lib/proc.js';
import { median, round } from './lib/stats.js';
import type { WaitersClientOptions, WaitersClientResult } from './waiters-client.js';

export interface WaiterFigures extends WaitersClientResult {
  waiters: number;
  extraRssMb: number;
  peakRssMb: number;
  /** The server's main thread waiting for its CPU, % of the time from `go` to the last answer. */
  cpuWaitPercent: number;
  /** The server's CPU given to other guests by the hypervisor over the same time, %. */
  stealPercent: number;
}

export interface WaiterResult extends WaiterFigures {
  bare: WaiterFigures;
  /** The receiver's p99 wake-up over bare Fastify's in the same round, the median of the rounds. */
  p99Ratio: number;
  /** The median of the receiver's p99s over the median of bare Fastify's, unpaired. */
  p99RatioOfMedians: number;
  /** Every round's p99, in order. */
  rounds: {
    p99Ratio: number[];
    receiverP99Ms: number[];
    bareP99Ms: number[];
    receiverCpuWaitPercent: number[];
    bareCpuWaitPercent: number[];
    receiverStealPercent: number[];
    bareStealPercent: number[];
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const PINNED = { cpu: 0 };
const WAIT_PATH = '/hosts/waited-on/wait?timeout=120';

async function post(url: string, body: unknown): Promise<void> {
  const res = await fetch(`${url}/webhook`, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
  });
  if (res.status !== 200) throw new Error(`ingest answered ${res.status}`);
}

/** Bare Fastify holding the requests and answering them all on one POST: the baseline. */
async function bareRound(count: number): Promise<WaiterFigures> {
  const bare = await startChild('bench/bare-server.js', {}, PINNED);
  const figures = await measure(bare, count, { path: '/release' });
  await bare.stop();
  return figures;
}

/** The receiver, on a fresh database: a run starts, the long-polls wait on its host, the run finishes. */
async function receiverRound(dir: string, count: number, round: number): Promise<WaiterFigures> {
  const receiver = await startChild('src/server.js', { WEBHOOK_DB: join(dir, `waiters-${round}.db`) }, PINNED);
  const runId = randomUUID();
  const host = { hostname: 'waited-on' };
  const event = (seq: number, kind: string, data: object) => ({
    v: 1,
    event_id: randomUUID(),
    run_id: runId,
    seq,
    time: new Date().toISOString(),
    kind,
    host,
    data,
  });
  await post(receiver.url, event(0, 'run_started', { playbook: 'site.yml', ansible_version: '2.14.18' }));
  const figures = await measure(receiver, count, {
    path: '/webhook',
    body: event(1, 'run_finished', {
      result: 'success',
      duration_ms: 1,
      stats: { localhost: { ok: 1, changed: 0, failed: 0, skipped: 0, unreachable: 0, rescued: 0, ignored: 0 } },
    }),
  });
  await receiver.stop();
  return figures;
}

/**
 * `rounds` of each, interleaved so drift on a shared machine hits both alike. The ratio is taken
 * within each round, bare Fastify's run and the receiver's right after it, and the figure is the
 * median of those ratios: the wake-up of either varies by a third from one process to the next on
 * a virtual machine (README, Performance), and a ratio of unpaired medians can pair one server's
 * fastest round with the other's slowest. The figures shown are the round with the median p99.
 */
export async function benchWaiters(dir: string, count: number, rounds = 1): Promise<WaiterResult> {
  const bare: WaiterFigures[] = [];
  const receiver: WaiterFigures[] = [];
  for (let r = 0; r < rounds; r++) {
    bare.push(await bareRound(count));
    receiver.push(await receiverRound(dir, count, r));
  }
  const mid = (xs: WaiterFigures[]) => [...xs].sort((a, b) => a.answerP99Ms - b.answerP99Ms)[Math.floor(xs.length / 2)]!;
  const figures = mid(receiver);
  const bareFigures = mid(bare);
  const ratios = receiver.map((f, i) => round(f.answerP99Ms / bare[i]!.answerP99Ms, 2));
  return {
    ...figures,
    bare: bareFigures,
    p99Ratio: median(ratios),
    p99RatioOfMedians: round(figures.answerP99Ms / bareFigures.answerP99Ms, 2),
    rounds: {
      p99Ratio: ratios,
      receiverP99Ms: receiver.map((f) => f.answerP99Ms),
      bareP99Ms: bare.map((f) => f.answerP99Ms),
      receiverCpuWaitPercent: receiver.map((f) => f.cpuWaitPercent),
      bareCpuWaitPercent: bare.map((f) => f.cpuWaitPercent),
      receiverStealPercent: receiver.map((f) => f.stealPercent),
      bareStealPercent: bare.map((f) => f.stealPercent),
    },
  };
}

async function measure(server: Child, count: number, finish: WaitersClientOptions['finish']): Promise<WaiterFigures> {
  const peak = trackPeak(server);
  await sleep(300);
  const rssBefore = server.rssMb();
  let rssWaiting = 0;
  let went = { at: 0, waitNs: 0, cpu: cpuTimes(0) };
  const options: WaitersClientOptions = { url: server.url, count, path: WAIT_PATH, finish };
  const result = await runPinned<WaitersClientResult>('bench/waiters-client.js', 1, options, 'WAITERS', {
    onLine: (line, proc) => {
      if (line !== 'WAITERS_HELD') return;
      // Settled memory with every request held, then the client wakes them all.
      void sleep(500).then(() => {
        rssWaiting = server.rssMb();
        went = { at: performance.now(), waitNs: schedStat(server.proc.pid!).waitNs, cpu: cpuTimes(0) };
        proc.stdin!.write('go\n');
      });
    },
  });
  const waitNs = schedStat(server.proc.pid!).waitNs - went.waitNs;
  return {
    ...result,
    waiters: count,
    cpuWaitPercent: round((waitNs / 1e6 / (performance.now() - went.at)) * 100, 0),
    stealPercent: stealPercent(went.cpu, cpuTimes(0)),
    extraRssMb: round(rssWaiting - rssBefore, 0),
    peakRssMb: round(peak(), 0),
  };
}
