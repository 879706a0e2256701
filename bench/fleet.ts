/**
 * Figure 4, fleet simulation: N VMs run ansible-pull at once. Each produces run_started, ~150 task
 * results spread over its run and run_finished, with jittered starts and task spacing. As in the
 * callback plugin, a sender per VM posts whatever is queued: one event alone while the receiver
 * keeps up, a batch when it falls behind. Lag is the time from when a VM produced an event to the
 * receiver's 2xx for it.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Pool } from 'undici';
import type { WebhookEvent } from '../src/protocol/events.js';
import { startChild, trackPeak } from './lib/proc.js';
import { percentile, round } from './lib/stats.js';

export interface FleetRun {
  vms: number;
  events: number;
  errors: number;
  lagP50Ms: number;
  lagP99Ms: number;
  cpuPercent: number;
  peakRssMb: number;
  seconds: number;
}

const TASKS = 150;

function vmEvents(i: number): (seq: number, kind: 'run_started' | 'task_result' | 'run_finished') => WebhookEvent {
  const runId = randomUUID();
  const host = { hostname: `vm-${i}`, vmid: 1000 + i, ips: [`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`] };
  return (seq, kind) => {
    const base = { v: 1 as const, event_id: randomUUID(), run_id: runId, seq, time: new Date().toISOString(), host };
    if (kind === 'run_started') return { ...base, kind, data: { playbook: 'site.yml', ansible_version: '2.14.18', check_mode: false, commit: 'abcdef1' } };
    if (kind === 'run_finished') {
      return { ...base, kind, data: { result: 'success', exit_code: 0, duration_ms: 1, stats: { localhost: { ok: TASKS, changed: 10, failed: 0, skipped: 0, unreachable: 0, rescued: 0, ignored: 0 } } } };
    }
    return { ...base, kind: 'task_result' as const, data: { play: 'Configure', task: `task ${seq}`, action: 'ansible.builtin.command', status: seq % 10 === 0 ? 'changed' : 'ok', duration_ms: 40, no_log: false } };
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

type Queued = { event: WebhookEvent; produced: number };

/** Simulates `vms` runs of `runSeconds` each against a fresh receiver. */
export async function simulateFleet(dir: string, vms: number, runSeconds: number): Promise<FleetRun> {
  const receiver = await startChild('src/server.js', { WEBHOOK_DB: join(dir, `fleet-${vms}.db`) });
  const peak = trackPeak(receiver);
  // A client per VM with its own connection, as real VMs have.
  const clients: Pool[] = [];
  const lags: number[] = [];
  let errors = 0;
  const cpu0 = receiver.cpuSeconds();
  const t0 = performance.now();

  /** Posts what is queued, as the plugin's sender thread does: one event alone, several as a batch. */
  const send = async (pool: Pool, queue: Queued[]): Promise<void> => {
    const events = queue.map((q) => q.event);
    const body = JSON.stringify(events.length === 1 ? events[0] : { events });
    try {
      const res = await pool.request({ path: '/webhook', method: 'POST', headers: { 'content-type': 'application/json' }, body });
      await res.body.dump();
      if (res.statusCode !== 200) throw new Error(String(res.statusCode));
      const now = performance.now();
      for (const q of queue) lags.push(now - q.produced);
    } catch {
      errors++;
    }
  };

  const vm = async (i: number) => {
    const make = vmEvents(i);
    const pool = new Pool(receiver.url, { connections: 1, pipelining: 1 });
    clients.push(pool);
    const queue: Queued[] = [];
    let producing = true;
    let wakeSender: (() => void) | undefined;
    const nudge = () => {
      wakeSender?.();
      wakeSender = undefined;
    };
    // The play: events produced on schedule, whatever the sender is doing.
    const play = (async () => {
      await sleep(Math.random() * runSeconds * 100); // starts spread over the first 10% of the run
      const gap = (runSeconds * 900) / TASKS;
      for (let seq = 0; seq <= TASKS + 1; seq++) {
        const kind = seq === 0 ? 'run_started' : seq === TASKS + 1 ? 'run_finished' : 'task_result';
        queue.push({ event: make(seq, kind), produced: performance.now() });
        nudge();
        await sleep(gap * (0.5 + Math.random()));
      }
      producing = false;
      nudge();
    })();
    // The sender: whatever is queued goes in the next request.
    while (producing || queue.length > 0) {
      if (queue.length === 0) {
        await new Promise<void>((resolve) => (wakeSender = resolve));
        continue;
      }
      await send(pool, queue.splice(0, 100));
    }
    await play;
  };
  await Promise.all(Array.from({ length: vms }, (_, i) => vm(i)));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = receiver.cpuSeconds() - cpu0;
  const peakRss = peak();
  await Promise.all(clients.map((c) => c.close()));
  await receiver.stop();
  return {
    vms,
    events: lags.length,
    errors,
    lagP50Ms: round(percentile(lags, 50), 1),
    lagP99Ms: round(percentile(lags, 99), 1),
    cpuPercent: round((cpu / seconds) * 100, 0),
    peakRssMb: round(peakRss, 0),
    seconds: round(seconds, 1),
  };
}

/**
 * Runs the fleet at each size in `sizes` (ascending) until one misses p99 < 100 ms or errs, but
 * always up to `mustRun` so the headline size is measured; returns every step and the largest
 * size that held.
 */
export async function fleetCapacity(dir: string, sizes: number[], mustRun: number, runSeconds: number): Promise<{ sustainedVms: number; steps: FleetRun[] }> {
  const steps: FleetRun[] = [];
  let good = 0;
  let failed = false;
  for (const n of sizes) {
    if (failed && n > mustRun) break;
    const r = await simulateFleet(dir, n, runSeconds);
    steps.push(r);
    const ok = r.errors === 0 && r.lagP99Ms < 100;
    if (ok && !failed) good = n;
    if (!ok) failed = true;
  }
  return { sustainedVms: good, steps };
}
