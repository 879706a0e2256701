/**
 * Figure 4, the fleet: a mass rebuild measured from outside. The receiver runs alone on CPU 0,
 * the load generator (bench/fleet-load.ts) on CPU 1, and the same generator drives bare Fastify
 * (bench/bare-server.ts) as the baseline in the same run. Besides the generator's latencies, each
 * step records what the receiver's own metrics cannot see: the accept queue and listen overflows,
 * GC pauses (--trace-gc), write system calls per request, and optionally `strace -c` for 10 s.
 */
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { FleetLoadOptions, FleetLoadResult } from './fleet-load.js';
import {
  cpuTimes,
  diffCounters,
  openFilesLimit,
  procIo,
  sampleAcceptQueue,
  sampleThreadState,
  schedStat,
  stealPercent,
  tcpCounters,
  type TcpCounters,
} from './lib/kernel.js';
import { DIST, startChild, trackPeak } from './lib/proc.js';

/** The shape of one rebuild: every VM starts within `startWithinS` and runs `tasks` over `playS`. */
export interface RebuildShape {
  startWithinS: number;
  tasks: number;
  playS: number;
}

/** The mass rebuild: all VMs start within 30 s; 150 tasks over 120 s. */
export const REAL_SHAPE: RebuildShape = { startWithinS: 30, tasks: 150, playS: 120 };
/** The same per-VM event rate and batching (1.25 events/s, 2 s linger) in a third of the time. */
export const SHORT_SHAPE: RebuildShape = { startWithinS: 10, tasks: 50, playS: 40 };
/** The same rate again, in a sixth of the time: what `npm run bench` runs, so a fleet step takes about 30 s. */
export const BENCH_SHAPE: RebuildShape = { startWithinS: 5, tasks: 25, playS: 20 };

export interface FleetStep {
  server: 'receiver' | 'bare';
  harsh: boolean;
  keepAlive: boolean;
  vms: number;
  load: FleetLoadResult;
  /** The receiver's CPU over the run, in % of one core. */
  serverCpuPercent: number;
  /** Its CPU time per request and per event: what the run cost it, however busy the machine was. */
  serverCpuMsPerRequest: number;
  serverCpuUsPerEvent: number;
  /** Its main thread: % of the run on a CPU, and % waiting for one (other processes on its core). */
  mainThread: { runPercent: number; runQueuePercent: number; states: Record<string, number> };
  /** Of the server's CPU (0) and the generator's (1), the share the hypervisor gave elsewhere. */
  stealPercent: { server: number; generator: number };
  peakRssMb: number;
  acceptQueue: { max: number; p50: number; samples: number; every500ms: number[] };
  tcp: TcpCounters;
  gc: { pauses: number; totalMs: number; maxMs: number };
  writes: { syscallsPerRequest: number; kibPerRequest: number };
  strace?: string;
  /** Held p99 < 100 ms with no error and every event delivered. */
  held: boolean;
}

export interface StepOptions {
  server: 'receiver' | 'bare';
  vms: number;
  shape: RebuildShape;
  harsh?: boolean;
  /** The VMs keep one connection per run instead of one per request (FleetLoadOptions.keepAlive). */
  keepAlive?: boolean;
  /** Runs `strace -c -f` on the server for 10 s from this many seconds into the run. */
  straceAtS?: number;
  env?: Record<string, string>;
  /** Extra node flags for the server, such as --cpu-prof. */
  nodeArgs?: string[];
}

/**
 * How long a step waits after the last play ends for the events still to be delivered (it ends
 * as soon as they all are). Past capacity the receiver tells refused VMs to come back after up to
 * WEBHOOK_PACING_MAX_SECONDS (60 by default), and a VM refused near the end of the rebuild then
 * still lingers before it sends: at 40,000 VMs a 60 s drain ended with 398 of 6,080,000 events
 * waiting for their Retry-After.
 */
const DRAIN_S = 120;

const GC_LINE = /: (Scavenge|Mark-Compact|Mark-sweep|Minor Mark-Compact)[^,]*, ([\d.]+) \/ [\d.]+ ms/;

function runGenerator(options: FleetLoadOptions): Promise<FleetLoadResult> {
  return new Promise((resolve, reject) => {
    const proc = spawn('taskset', ['-c', '1', process.execPath, join(DIST, 'bench', 'fleet-load.js'), JSON.stringify(options)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let result: FleetLoadResult | undefined;
    createInterface({ input: proc.stdout }).on('line', (line) => {
      if (line.startsWith('FLEET_LOAD ')) result = JSON.parse(line.slice('FLEET_LOAD '.length)) as FleetLoadResult;
    });
    proc.once('exit', (code) => (result ? resolve(result) : reject(new Error(`fleet-load exited with ${code}`))));
  });
}

/** `strace -c -f -p pid` for `seconds`; resolves with its summary table. */
function straceFor(pid: number, seconds: number, file: string): Promise<string> {
  return new Promise((resolve) => {
    const proc = execFile('strace', ['-c', '-f', '-p', String(pid), '-o', file], () => {
      try {
        resolve(readFileSync(file, 'utf8'));
      } catch {
        resolve('strace produced nothing');
      }
    });
    setTimeout(() => proc.kill('SIGINT'), seconds * 1000);
  });
}

const pct = (values: number[], p: number) =>
  values.length === 0 ? 0 : [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(p * values.length))]!;

/** One rebuild of `vms` VMs against a fresh server. */
export async function fleetStep(dir: string, o: StepOptions): Promise<FleetStep> {
  const gc = { pauses: 0, totalMs: 0, maxMs: 0 };
  const onLine = (line: string) => {
    const m = GC_LINE.exec(line);
    if (!m) return;
    const ms = Number(m[2]);
    gc.pauses++;
    gc.totalMs += ms;
    gc.maxMs = Math.max(gc.maxMs, ms);
  };
  const script = o.server === 'bare' ? 'bench/bare-server.js' : 'src/server.js';
  // The plugin's default rate limit stays on: 20,000 sources are part of the load.
  const env = { WEBHOOK_DB: join(dir, `fleet-${o.vms}-${Date.now()}.db`), WEBHOOK_RATE_LIMIT: '600', ...o.env };
  const server = await startChild(script, env, { cpu: 0, nodeArgs: ['--trace-gc', ...(o.nodeArgs ?? [])], onLine });
  const pid = server.proc.pid!;
  const port = Number(new URL(server.url).port);
  const peak = trackPeak(server);
  const stopQueue = sampleAcceptQueue(port);
  const stopStates = sampleThreadState(pid);
  const tcp0 = tcpCounters();
  const io0 = procIo(pid);
  const cpu0 = server.cpuSeconds();
  const sched0 = schedStat(pid);
  const steal0 = [cpuTimes(0), cpuTimes(1)] as const;
  const t0 = performance.now();
  const strace =
    o.straceAtS === undefined
      ? undefined
      : new Promise<string>((r) => setTimeout(() => void straceFor(pid, 10, join(dir, `strace-${pid}.txt`)).then(r), o.straceAtS! * 1000));
  const load = await runGenerator({
    url: server.url,
    vms: o.vms,
    ...o.shape,
    harsh: o.harsh ?? false,
    keepAlive: o.keepAlive ?? false,
    drainS: DRAIN_S,
  });
  const seconds = (performance.now() - t0) / 1000;
  const cpu = server.cpuSeconds() - cpu0;
  const io1 = procIo(pid);
  const sched1 = schedStat(pid);
  const steal = { server: stealPercent(steal0[0], cpuTimes(0)), generator: stealPercent(steal0[1], cpuTimes(1)) };
  const tcp = diffCounters(tcp0, tcpCounters());
  const queue = stopQueue();
  const states = stopStates();
  const straceText = strace ? await strace : undefined;
  const peakRssMb = Math.round(peak());
  await server.stop();
  const requests = Math.max(1, load.requests);
  const held = load.errors === 0 && load.latency.p99Ms < 100 && load.eventsDelivered === load.eventsProduced;
  return {
    server: o.server,
    harsh: o.harsh ?? false,
    keepAlive: o.keepAlive ?? false,
    vms: o.vms,
    load,
    serverCpuPercent: Math.round((cpu / seconds) * 100),
    serverCpuMsPerRequest: Math.round((cpu * 1000 * 1000) / requests) / 1000,
    serverCpuUsPerEvent: Math.round((cpu * 1e6) / Math.max(1, load.eventsDelivered)),
    mainThread: {
      runPercent: Math.round((sched1.runNs - sched0.runNs) / seconds / 1e7),
      runQueuePercent: Math.round((sched1.waitNs - sched0.waitNs) / seconds / 1e7),
      states,
    },
    stealPercent: steal,
    peakRssMb,
    acceptQueue: { max: Math.max(0, ...queue), p50: pct(queue, 0.5), samples: queue.length, every500ms: queue },
    tcp,
    gc: { pauses: gc.pauses, totalMs: Math.round(gc.totalMs), maxMs: Math.round(gc.maxMs * 10) / 10 },
    writes: {
      syscallsPerRequest: Math.round(((io1.syscw - io0.syscw) / requests) * 10) / 10,
      kibPerRequest: Math.round(((io1.wchar - io0.wchar) / 1024 / requests) * 10) / 10,
    },
    ...(straceText !== undefined ? { strace: straceText } : {}),
    held,
  };
}

/** One line for the log: what a step measured. */
export function describeStep(s: FleetStep): string {
  const l = s.load;
  return `${s.server}${s.harsh ? ' harsh' : ''}${s.keepAlive ? ' kept-alive' : ' new connection per request'} ${s.vms} VMs: ${l.requests} req, latency p50/p99/max ${l.latency.p50Ms}/${l.latency.p99Ms}/${l.latency.maxMs} ms (2xx only p99 ${l.acceptedLatency.p99Ms} ms), ${l.eventsDelivered}/${l.eventsProduced} events (lag p99 ${l.lag.p99Ms} ms), ${l.shed} shed, ${l.errors} errors ${JSON.stringify(l.errorKinds)}, healthz p99 ${l.healthz.p99Ms} ms, server CPU ${s.serverCpuPercent}%, ${s.serverCpuMsPerRequest} ms/request, ${s.serverCpuUsPerEvent} µs/event (main thread ${s.mainThread.runPercent}%, waiting for CPU ${s.mainThread.runQueuePercent}%, states ${JSON.stringify(s.mainThread.states)}), CPU stolen by the hypervisor ${s.stealPercent.server}% (generator's ${s.stealPercent.generator}%), accept queue max ${s.acceptQueue.max}, overflows ${s.tcp.TcpExtListenOverflows}, SYN retrans ${s.tcp.TcpExtTCPSynRetrans}, GC ${s.gc.totalMs} ms (max ${s.gc.maxMs}), writes/req ${s.writes.syscallsPerRequest}, generator loop p99 ${l.loopDelay.p99Ms} ms CPU ${l.generatorCpuPercent}%`;
}

export interface FleetFigure {
  shape: RebuildShape;
  /** Largest receiver fleet that held p99 < 100 ms with no error, as the plugin sends by default. */
  capacityVms: number;
  steps: FleetStep[];
  bare: FleetStep;
  /** At `compareVms`: a new connection per request (the plugin with keep_alive off, or through a proxy). */
  perRequest: FleetStep;
  /** At `compareVms`: the receiver with pacing off (WEBHOOK_PACING_RATE=0). */
  unpaced: FleetStep;
  harsh: FleetStep;
  /** The receiver past capacity: `overloadFactors` times the capacity (or the smallest size when none held). */
  overload: FleetStep[];
}

/**
 * The receiver at each size in `sizes` (ascending) until one fails to hold, the bare baseline at
 * `bareVms`, the two alternatives at `compareVms`, the harsh mode (every event at once) at
 * `harshVms`, and the overload curve. Every step sends as the plugin does by default (one
 * kept-alive connection per run, following the receiver's pacing) unless it says otherwise.
 */
export async function fleetFigure(
  dir: string,
  opts: {
    sizes: number[];
    bareVms: number;
    compareVms: number;
    harshVms: number;
    shape: RebuildShape;
    overloadFactors?: number[];
    log: (s: string) => void;
  },
): Promise<FleetFigure> {
  const run = async (o: Omit<StepOptions, 'shape'>, label = '') => {
    const s = await fleetStep(dir, { shape: opts.shape, keepAlive: true, ...o });
    opts.log(label + describeStep(s));
    return s;
  };
  // Room for the database, the pages and the generator's own files beside one socket per VM.
  const limit = openFilesLimit();
  const sized = (vms: number): Omit<StepOptions, 'shape'> => {
    if (vms + 1000 <= limit) return { server: 'receiver', vms };
    opts.log(
      `${vms} VMs: one kept-alive connection each does not fit ${limit} descriptors a process here; this step opens a new connection per request`,
    );
    return { server: 'receiver', vms, keepAlive: false };
  };
  const steps: FleetStep[] = [];
  let capacityVms = 0;
  for (const vms of opts.sizes) {
    const s = await run(sized(vms));
    steps.push(s);
    if (!s.held) break;
    capacityVms = vms;
  }
  const bare = await run({ server: 'bare', vms: opts.bareVms });
  const perRequest = await run({ server: 'receiver', vms: opts.compareVms, keepAlive: false });
  const unpaced = await run({ server: 'receiver', vms: opts.compareVms, env: { WEBHOOK_PACING_RATE: '0' } }, 'pacing off: ');
  const harsh = await run({ server: 'receiver', vms: opts.harshVms, harsh: true });
  const overload: FleetStep[] = [];
  for (const factor of opts.overloadFactors ?? [1.5, 2]) {
    const vms = Math.round((capacityVms || opts.sizes[0]!) * factor);
    const measured = steps.find((s) => s.vms === vms);
    overload.push(measured ?? (await run(sized(vms), `${factor}x capacity: `)));
  }
  return { shape: opts.shape, capacityVms, steps, bare, perRequest, unpaced, harsh, overload };
}
