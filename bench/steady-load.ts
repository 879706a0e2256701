/**
 * The steady state's load generator, run as its own process (the bench pins it to the other core):
 * a fleet whose ansible-pull timers fire every `intervalS`, as the cloud-init template sets them up
 * with pull_only_if_changed. Every invocation sends one `checkin`; a share `runShare` of them found
 * a new commit and ran the play first, reported as the plugin does (run_started, task results,
 * run_finished: batches after a 2 s linger or 100 events, one request in flight), and only then
 * the check-in (`ran`), which the wrapper sends after ansible-pull exits. Connections are made as in
 * bench/fleet-load.ts: a new one per request with `Connection: close`, from the VM's own loopback
 * address; with a master secret every request is signed with the VM's own key (per-VM keys).
 * - live: the real rate. Each VM's timer fires at a uniform phase in [0, intervalS), as the timer's
 *   RandomizedDelaySec spreads a fleet (drawn from `seed`, so a baseline can get the very same
 *   timers). Requests started in [warmS, warmS + windowS) are the
 *   figure (the warm-up lets runs that began earlier be under way, as they are in the steady
 *   state); `STEADY_WINDOW start` and `STEADY_WINDOW end` lines mark the window on stdout.
 * - sample: a compressed stretch of `hours` hours, sent as fast as `concurrency` requests allow,
 *   for the database's growth: `hosts` (one skipped check-in per VM, so the fleet is known),
 *   `runs` (the runs of those hours) or `checkins` (their check-ins). Which invocations ran is a
 *   deterministic draw per VM and invocation, so a `ran` check-in names the run it follows.
 *
 * Input: one JSON argument (SteadyLoadOptions). Output: one line `STEADY_LOAD <json>` on stdout.
 */
import { randomUUID } from 'node:crypto';
import { percentiles, type Percentiles } from './fleet-load.js';
import { type Answer, checkinEvent, draw, fixedUuid, makeVm, post, runEvents, type SteadyFleet, type Vm } from './steady-vm.js';

export type { SteadyFleet } from './steady-vm.js';

export type SteadyLoadOptions =
  /** `seed` fixes which timers fire when and which run the play, so two servers get the same load. */
  | (SteadyFleet & { mode: 'live'; warmS: number; windowS: number; seed: string })
  | (SteadyFleet & { mode: 'sample'; what: 'hosts' | 'runs' | 'checkins'; hours: number; concurrency: number });

export interface SteadyCounts {
  requests: number;
  checkins: number;
  runs: number;
  events: number;
  /** 429/503 with Retry-After: shed as designed, and retried. */
  shed: number;
  errors: number;
  errorKinds: Record<string, number>;
  /** Every request's latency, answered or not. */
  latency: Percentiles;
}

export interface SteadyLoadResult extends SteadyCounts {
  mode: 'live' | 'sample';
  /** Live: VMs whose timer fired during the simulated time. */
  fired: number;
  /** Live: the window; sample: the whole send. */
  seconds: number;
  generatorCpuPercent: number;
}

const LINGER_MS = 2000;
const BATCH = 100;
const TICK_MS = 10;
/** Counts one answer; true when it was a 2xx, else the request is to be retried (or given up). */
function tally(c: Omit<SteadyCounts, 'latency'>, latencies: number[], a: Answer): boolean {
  c.requests++;
  latencies.push(a.ms);
  if (a.status >= 200 && a.status < 300) return true;
  if ((a.status === 429 || a.status === 503) && a.retryAfterS !== undefined) c.shed++;
  else {
    c.errors++;
    const kind = a.failure ?? String(a.status);
    c.errorKinds[kind] = (c.errorKinds[kind] ?? 0) + 1;
  }
  return false;
}

const retryable = (a: Answer) => a.failure !== undefined || a.status === 408 || a.status === 429 || a.status >= 500;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const emptyCounts = () => ({ requests: 0, checkins: 0, runs: 0, events: 0, shed: 0, errors: 0, errorKinds: {} });

/** Sample mode: every request of the stretch, `concurrency` at a time, each retried until taken. */
async function runSample(o: Extract<SteadyLoadOptions, { mode: 'sample' }>): Promise<SteadyLoadResult> {
  const target = new URL(o.url);
  const perVm = o.what === 'hosts' ? 1 : Math.round((o.hours * 3600) / o.intervalS);
  const vms = Array.from({ length: o.vms }, (_, i) => makeVm(i, o.master));
  const jobs: Array<{ vm: Vm; events: string[]; checkin: boolean }> = [];
  for (let k = 0; k < perVm; k++) {
    for (const vm of vms) {
      const ran = o.what !== 'hosts' && draw('ran', vm.i, k) < o.runShare;
      const runId = fixedUuid('run', vm.i, k);
      if (o.what === 'runs' && ran) jobs.push({ vm, events: runEvents(vm, runId, k, o), checkin: false });
      if (o.what !== 'runs') jobs.push({ vm, events: [checkinEvent(vm, runId, k, ran, o)], checkin: true });
    }
  }
  const c = emptyCounts();
  const latencies: number[] = [];
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const job = jobs[next++]!;
      for (let attempt = 0, backoff = 500; ; attempt++, backoff = Math.min(backoff * 2, 30_000)) {
        const a = await post(target, job.vm, job.events);
        if (tally(c, latencies, a)) {
          if (job.checkin) c.checkins++;
          else c.runs++;
          c.events += job.events.length;
          break;
        }
        if (!retryable(a) || attempt >= 10) break;
        await sleep(a.retryAfterS !== undefined ? a.retryAfterS * 1000 : backoff);
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return {
    mode: 'sample',
    ...c,
    latency: percentiles(latencies),
    fired: 0,
    seconds: Math.round(seconds * 10) / 10,
    generatorCpuPercent: Math.round(((cpu.user + cpu.system) / 1e6 / seconds) * 100),
  };
}

interface LiveVm {
  vm: Vm;
  runId: string;
  /** Times (ms since start) each run event is produced; empty for an invocation that only checks in. */
  at: number[];
  events: string[];
  checkin: string;
  next: number;
  pending: Array<{ json: string; produced: number }>;
  sending: boolean;
  retryAt: number;
  backoffMs: number;
  /** The run's events are all acknowledged (or there were none): the check-in goes next. */
  checkinDue: boolean;
  done: boolean;
}

/** Live mode: the timers that fire during warm-up and window, at their own times. */
async function runLive(o: Extract<SteadyLoadOptions, { mode: 'live' }>): Promise<SteadyLoadResult> {
  const target = new URL(o.url);
  const span = (o.warmS + o.windowS) * 1000;
  const firing: Array<{ fireAt: number; lv: LiveVm }> = [];
  for (let i = 0; i < o.vms; i++) {
    const fireAt = draw('phase', o.seed, i) * o.intervalS * 1000;
    if (fireAt >= span) continue;
    const vm = makeVm(i, o.master);
    const ran = draw('live ran', o.seed, i) < o.runShare;
    const runId = randomUUID();
    const k = 1000 + i;
    const events = ran ? runEvents(vm, runId, k, o) : [];
    const gap = (o.playS * 1000) / Math.max(1, events.length - 1);
    const at = events.map((_, n) => fireAt + n * gap);
    const checkin = checkinEvent(vm, runId, k, ran, o);
    const lv = {
      vm,
      runId,
      at,
      events,
      checkin,
      next: 0,
      pending: [],
      sending: false,
      retryAt: 0,
      backoffMs: 500,
      checkinDue: !ran,
      done: false,
    };
    firing.push({ fireAt, lv });
  }
  firing.sort((a, b) => a.fireAt - b.fireAt);

  const c = emptyCounts();
  const latencies: number[] = [];
  let started = 0;
  let inflight = 0;
  let windowOpen = false;
  let windowClosed = false;
  let cpu0 = process.cpuUsage();
  let cpu = cpu0;
  const t0 = performance.now();
  const now = () => performance.now() - t0;

  const send = (lv: LiveVm, batch: Array<{ json: string; produced: number }>, isCheckin: boolean) => {
    lv.sending = true;
    inflight++;
    const inWindow = windowOpen && !windowClosed;
    void post(
      target,
      lv.vm,
      batch.map((e) => e.json),
    ).then((a) => {
      inflight--;
      lv.sending = false;
      const ok = inWindow ? tally(c, latencies, a) : a.status >= 200 && a.status < 300;
      if (ok) {
        if (inWindow) {
          c.events += batch.length;
          if (isCheckin) c.checkins++;
          else if (batch[0]!.json.includes('"kind":"run_started"')) c.runs++;
        }
        lv.backoffMs = 500;
        if (isCheckin) lv.done = true;
        else if (lv.next === lv.events.length && lv.pending.length === 0) lv.checkinDue = true;
        return;
      }
      if (!retryable(a)) {
        lv.done = true; // refused for good: nothing this VM sends next would be taken either
        return;
      }
      lv.pending.unshift(...batch);
      lv.retryAt = now() + (a.retryAfterS !== undefined ? a.retryAfterS * 1000 : lv.backoffMs);
      lv.backoffMs = Math.min(lv.backoffMs * 2, 30_000);
    });
  };

  const tick = () => {
    const t = now();
    while (started < firing.length && firing[started]!.fireAt <= t) started++;
    for (let n = 0; n < started; n++) {
      const lv = firing[n]!.lv;
      if (lv.done) continue;
      while (lv.next < lv.events.length && lv.at[lv.next]! <= t) lv.pending.push({ json: lv.events[lv.next++]!, produced: t });
      if (lv.sending || t < lv.retryAt) continue;
      if (lv.checkinDue && lv.pending.length === 0) {
        lv.pending.push({ json: lv.checkin, produced: t });
        lv.checkinDue = false;
      }
      if (lv.pending.length === 0) continue;
      const isCheckin = lv.pending[0]!.json === lv.checkin;
      const playDone = lv.next === lv.events.length;
      if (isCheckin || playDone || lv.pending.length >= BATCH || t - lv.pending[0]!.produced >= LINGER_MS) {
        send(lv, lv.pending.splice(0, isCheckin ? 1 : BATCH), isCheckin);
      }
    }
  };

  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const t = now();
      if (!windowOpen && t >= o.warmS * 1000) {
        windowOpen = true;
        cpu0 = process.cpuUsage();
        process.stdout.write('STEADY_WINDOW start\n');
      }
      if (windowOpen && !windowClosed && t >= span) {
        windowClosed = true;
        cpu = process.cpuUsage(cpu0);
        process.stdout.write('STEADY_WINDOW end\n');
      }
      if (!windowClosed) tick();
      else if (inflight === 0) {
        clearInterval(timer);
        resolve();
      }
    }, TICK_MS);
  });
  return {
    mode: 'live',
    ...c,
    latency: percentiles(latencies),
    fired: firing.length,
    seconds: o.windowS,
    generatorCpuPercent: Math.round(((cpu.user + cpu.system) / 1e6 / o.windowS) * 100),
  };
}

export function runSteadyLoad(o: SteadyLoadOptions): Promise<SteadyLoadResult> {
  return o.mode === 'live' ? runLive(o) : runSample(o);
}

if (process.argv[1] === import.meta.filename) {
  const result = await runSteadyLoad(JSON.parse(process.argv[2]!) as SteadyLoadOptions);
  process.stdout.write(`STEADY_LOAD ${JSON.stringify(result)}\n`);
}
