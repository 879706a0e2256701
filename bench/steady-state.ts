/**
 * Figure 11, the steady state: a fleet pulling on its timer every INTERVAL minutes with
 * pull_only_if_changed (cloud-init/user-data.yaml.tftpl), so most invocations only check in and a
 * share runs the play. Two measurements, both against the receiver on CPU 0 with the load
 * generator (bench/steady-load.ts) on CPU 1, every request signed with the VM's own key:
 * - the real rate for a short window: the receiver's CPU and the request latency, with bare
 *   Fastify under the same load as the baseline and the receiver's idle CPU beside it;
 * - database growth: a compressed sample (SAMPLE_HOURS hours of the fleet's runs, then of its
 *   check-ins, as fast as the receiver takes them) with the file size (page_count × page_size
 *   after a checkpoint) before and after each, extrapolated to a day. Quick mode samples a smaller
 *   fleet and scales sizes by vms / sampleVms, which the output says. What the retention policy
 *   holds the file to is estimated from the same per-row sizes: check-ins are kept for
 *   WEBHOOK_RETENTION_DAYS, runs that changed nothing for WEBHOOK_RETENTION_UNCHANGED_DAYS.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { loadConfig } from '../src/config.js';
import { schedStat } from './lib/kernel.js';
import { type Child, runPinned, startChild, trackPeak } from './lib/proc.js';
import type { SteadyFleet, SteadyLoadOptions, SteadyLoadResult } from './steady-load.js';

export interface SteadyShape {
  /** VMs the figure is for. */
  vms: number;
  /** VMs of the database sample; sizes are scaled by vms / sampleVms. */
  sampleVms: number;
  intervalMin: number;
  /** Share of invocations that find a new commit and run the play. */
  runShare: number;
  /** Share of those runs that change one task. */
  changedShare: number;
  tasks: number;
  playS: number;
  /** Live: warm-up before the window, so runs begun earlier are under way. */
  warmS: number;
  windowS: number;
  /** Live: seconds of the receiver with no load, for its idle CPU. */
  idleS: number;
  sampleHours: number;
  /** Sample: requests in flight at once. */
  concurrency: number;
}

export interface LiveFigures {
  load: SteadyLoadResult;
  /** Over the window, in % of one core. */
  serverCpuPercent: number;
  serverCpuMsPerRequest: number;
  /** Its main thread waiting for its CPU, % of the window: other work on the core. */
  runQueuePercent: number;
}

export interface SteadyResult {
  shape: SteadyShape;
  receiver: LiveFigures;
  bare: LiveFigures;
  idleCpuPercent: number;
  peakRssMb: number;
  sample: {
    scale: number;
    hosts: SteadyLoadResult;
    runs: SteadyLoadResult;
    checkins: SteadyLoadResult;
    /** File size (page_count × page_size after a checkpoint): fleet known, after the runs, after the check-ins. */
    bytes: { hosts: number; afterRuns: number; afterCheckins: number };
    freePages: number;
    bytesPerRun: number;
    bytesPerCheckin: number;
  };
  /** Before any pruning, for the whole fleet. */
  perDay: { checkins: number; runs: number; checkinMb: number; runMb: number; totalMb: number };
  /** What retention keeps at steady state, estimated from the per-row sizes. */
  retained: {
    checkinDays: number;
    unchangedDays: number;
    changedDays: number;
    checkinMb: number;
    runMb: number;
    hostsMb: number;
    totalMb: number;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

/** The file's size once the WAL is checkpointed into it, read beside the running receiver. */
async function dbSize(path: string): Promise<{ bytes: number; freePages: number }> {
  const db = new Database(path);
  try {
    db.pragma('busy_timeout = 5000');
    for (let i = 0; i < 50; i++) {
      const [r] = db.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number }>;
      if (r?.busy === 0) break;
      await sleep(100);
    }
    const pages = db.pragma('page_count', { simple: true }) as number;
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    return { bytes: pages * pageSize, freePages: db.pragma('freelist_count', { simple: true }) as number };
  } finally {
    db.close();
  }
}

function fleet(url: string, s: SteadyShape, vms: number, master: string | undefined): SteadyFleet {
  const f = { url, vms, intervalS: s.intervalMin * 60, runShare: s.runShare, changedShare: s.changedShare, tasks: s.tasks, playS: s.playS };
  return master === undefined ? f : { ...f, master };
}

async function sample(f: SteadyFleet, s: SteadyShape, what: 'hosts' | 'runs' | 'checkins'): Promise<SteadyLoadResult> {
  const o: SteadyLoadOptions = { ...f, mode: 'sample', what, hours: s.sampleHours, concurrency: s.concurrency };
  const r = await runPinned<SteadyLoadResult>('bench/steady-load.js', 1, o, 'STEADY_LOAD');
  if (r.errors > 0) throw new Error(`steady sample (${what}) had ${r.errors} errors: ${JSON.stringify(r.errorKinds)}`);
  return r;
}

/** The real rate against `server`, its CPU read over the generator's window. */
async function live(server: Child, f: SteadyFleet, s: SteadyShape, seed: string): Promise<LiveFigures> {
  const pid = server.proc.pid!;
  let cpu0 = 0;
  let cpu = 0;
  let wait0 = 0;
  let wait = 0;
  const o: SteadyLoadOptions = { ...f, mode: 'live', warmS: s.warmS, windowS: s.windowS, seed };
  const load = await runPinned<SteadyLoadResult>('bench/steady-load.js', 1, o, 'STEADY_LOAD', {
    onLine: (line) => {
      if (line === 'STEADY_WINDOW start') {
        cpu0 = server.cpuSeconds();
        wait0 = schedStat(pid).waitNs;
      } else if (line === 'STEADY_WINDOW end') {
        cpu = server.cpuSeconds() - cpu0;
        wait = schedStat(pid).waitNs - wait0;
      }
    },
  });
  return {
    load,
    serverCpuPercent: round((cpu / s.windowS) * 100),
    serverCpuMsPerRequest: round((cpu * 1000) / Math.max(1, load.requests), 2),
    runQueuePercent: round(wait / s.windowS / 1e7),
  };
}

export async function benchSteady(dir: string, s: SteadyShape, log: (line: string) => void): Promise<SteadyResult> {
  const path = join(dir, 'steady.db');
  const master = randomBytes(24).toString('hex');
  const receiver = await startChild(
    'src/server.js',
    { WEBHOOK_DB: path, WEBHOOK_VM_KEY_MASTER: master, WEBHOOK_RATE_LIMIT: '600' },
    { cpu: 0 },
  );
  const peak = trackPeak(receiver);
  const sampleFleet = fleet(receiver.url, s, s.sampleVms, master);
  const hosts = await sample(sampleFleet, s, 'hosts');
  const b0 = await dbSize(path);
  const runs = await sample(sampleFleet, s, 'runs');
  const b1 = await dbSize(path);
  const checkins = await sample(sampleFleet, s, 'checkins');
  const b2 = await dbSize(path);
  log(
    `steady sample of ${s.sampleVms} VMs × ${s.sampleHours} h: ${hosts.checkins} hosts in ${hosts.seconds} s; ${runs.runs} runs (${runs.events} events) in ${runs.seconds} s, p99 ${runs.latency.p99Ms} ms; ${checkins.checkins} check-ins in ${checkins.seconds} s, p99 ${checkins.latency.p99Ms} ms; file ${b0.bytes} → ${b1.bytes} → ${b2.bytes} bytes`,
  );

  const idle0 = receiver.cpuSeconds();
  await sleep(s.idleS * 1000);
  const idleCpuPercent = round(((receiver.cpuSeconds() - idle0) / s.idleS) * 100);
  // The same timers fire against both servers: one seed for the two live runs.
  const seed = randomBytes(8).toString('hex');
  const recv = await live(receiver, fleet(receiver.url, s, s.vms, master), s, seed);
  const peakRssMb = Math.round(peak());
  await receiver.stop();
  const bareServer = await startChild('bench/bare-server.js', {}, { cpu: 0 });
  const bare = await live(bareServer, fleet(bareServer.url, s, s.vms, master), s, seed);
  await bareServer.stop();
  for (const [name, f] of [
    ['receiver', recv],
    ['bare', bare],
  ] as const) {
    const l = f.load;
    log(
      `steady ${name}: ${l.fired} timers fired; window ${l.seconds} s: ${l.requests} requests (${l.checkins} check-ins, ${l.runs} runs started, ${l.events} events), p50/p99/max ${l.latency.p50Ms}/${l.latency.p99Ms}/${l.latency.maxMs} ms, ${l.shed} shed, ${l.errors} errors ${JSON.stringify(l.errorKinds)}, server CPU ${f.serverCpuPercent}% (${f.serverCpuMsPerRequest} ms/request, waiting for CPU ${f.runQueuePercent}%), generator CPU ${l.generatorCpuPercent}%`,
    );
  }

  const scale = s.vms / s.sampleVms;
  const sampleCheckins = Math.max(1, checkins.checkins);
  const bytesPerRun = (b1.bytes - b0.bytes) / Math.max(1, runs.runs);
  const bytesPerCheckin = (b2.bytes - b1.bytes) / sampleCheckins;
  const checkinsPerDay = (s.vms * 1440) / s.intervalMin;
  const runsPerDay = checkinsPerDay * s.runShare;
  const mb = (bytes: number) => bytes / 2 ** 20;
  const perDay = {
    checkins: checkinsPerDay,
    runs: Math.round(runsPerDay),
    checkinMb: round(mb(checkinsPerDay * bytesPerCheckin)),
    runMb: round(mb(runsPerDay * bytesPerRun)),
    totalMb: 0,
  };
  perDay.totalMb = round(perDay.checkinMb + perDay.runMb);
  // The service's own defaults; unchanged runs go after the short cut-off, changed ones after the long one.
  const config = loadConfig({});
  const checkinMb = mb(checkinsPerDay * config.retentionDays * bytesPerCheckin);
  const runMb = mb(
    runsPerDay * ((1 - s.changedShare) * config.retentionUnchangedDays + s.changedShare * config.retentionDays) * bytesPerRun,
  );
  const hostsMb = mb(b0.bytes * scale);
  return {
    shape: s,
    receiver: recv,
    bare,
    idleCpuPercent,
    peakRssMb,
    sample: {
      scale,
      hosts,
      runs,
      checkins,
      bytes: { hosts: b0.bytes, afterRuns: b1.bytes, afterCheckins: b2.bytes },
      freePages: b2.freePages,
      bytesPerRun: Math.round(bytesPerRun),
      bytesPerCheckin: Math.round(bytesPerCheckin),
    },
    perDay,
    retained: {
      checkinDays: config.retentionDays,
      unchangedDays: config.retentionUnchangedDays,
      changedDays: config.retentionDays,
      checkinMb: Math.round(checkinMb),
      runMb: Math.round(runMb),
      hostsMb: round(hostsMb),
      totalMb: Math.round(checkinMb + runMb + hostsMb),
    },
  };
}
