/**
 * npm run bench [-- --quick]: every figure of the Performance section, each with the baseline it
 * is compared to, measured in the same run. Prints one table and writes bench/results.json.
 * --quick shrinks every figure to a few seconds (the test suite runs it so the benchmark cannot rot).
 * --only=a,b runs some figures: ingest, fleet, queries, retention, steady, waiters, pages, callback.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { benchCallback } from './callback.js';
import { BENCH_SHAPE, fleetFigure, REAL_SHAPE } from './fleet-rebuild.js';
import { benchIngest } from './ingest.js';
import { benchQueries } from './queries.js';
import { benchRetention } from './retention.js';
import { benchSteady } from './steady-state.js';
import { benchWaiters } from './waiters.js';

const quick = process.argv.includes('--quick');
const only = process.argv
  .find((a) => a.startsWith('--only='))
  ?.slice(7)
  .split(',');
const want = (name: string) => !only || only.includes(name);
/**
 * The steady state: 10,000 VMs on a 30-minute timer with pull_only_if_changed; 5 % of invocations
 * find a new commit and run the play, and one run in 5 changes a task (the rest change nothing).
 */
const STEADY = { vms: 10_000, intervalMin: 30, runShare: 0.05, changedShare: 0.2, sampleHours: 1 };
const P = quick
  ? {
      runs: 1,
      seconds: 1,
      connections: 32,
      fleet: {
        sizes: [50],
        bareVms: 50,
        compareVms: 50,
        harshVms: 20,
        shape: { startWithinS: 1, tasks: 10, playS: 3 },
        overloadFactors: [],
      },
      history: { hosts: 200, runsPerHost: 2, tasksPerRun: 20 },
      retention: { vms: 1000, generatedVms: 10, days: 90, intervalMin: 30, tasksPerRun: 10, changedShare: 0.05 },
      steady: { ...STEADY, sampleVms: 200, tasks: 10, playS: 1, warmS: 2, windowS: 3, idleS: 1, concurrency: 16 },
      samples: 30,
      waiters: 300,
      waiterRounds: 1,
      cbTasks: 10,
      cbRuns: 1,
    }
  : {
      runs: 3,
      seconds: 5,
      connections: 64,
      fleet: {
        sizes: [5000, 7500, 10_000, 20_000],
        bareVms: 10_000,
        compareVms: 10_000,
        harshVms: 5000,
        // The issue's rebuild by default (about 3 minutes a step); --fleet-short keeps the per-VM
        // event rate in a sixth of the time, but crowds each run's first and last requests.
        shape: process.argv.includes('--fleet-short') ? BENCH_SHAPE : REAL_SHAPE,
        overloadFactors: [1.5, 2],
      },
      history: { hosts: 5000, runsPerHost: 4, tasksPerRun: 50 },
      retention: { vms: 1000, generatedVms: 100, days: 90, intervalMin: 30, tasksPerRun: 10, changedShare: 0.05 },
      steady: { ...STEADY, sampleVms: 10_000, tasks: 50, playS: 25, warmS: 28, windowS: 60, idleS: 10, concurrency: 32 },
      samples: 300,
      waiters: 10_000,
      waiterRounds: 5,
      cbTasks: 200,
      cbRuns: 3,
    };

const dir = mkdtempSync(join(tmpdir(), 'webhook-bench-'));
const results: Record<string, unknown> = {
  machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version },
  mode: quick ? 'quick' : 'full',
  started: new Date().toISOString(),
};
const rows: Array<[string, string, string, string]> = [];
const check = (ok: boolean) => (ok ? 'met' : 'MISSED');
const log = (s: string) => process.stderr.write(`bench: ${s}\n`);

try {
  const peaks: number[] = [];
  if (want('ingest')) {
    log('ingest (single, batch, durable)…');
    const r = await benchIngest({ dir, runs: P.runs, seconds: P.seconds, connections: P.connections });
    results.ingest = r;
    peaks.push(r.peakRssMb);
    rows.push([
      '1 ingest, single events',
      `${r.single.receiverReqPerSec} ev/s, p99 ${r.single.receiverP99Ms} ms`,
      `bare Fastify ${r.single.bareReqPerSec} req/s → ratio ${r.single.ratio}`,
      `≥ 0.5: ${check(r.single.ratio >= 0.5)}`,
    ]);
    rows.push([
      '2 ingest, batches of 100',
      `${r.batch.eventsPerSec} ev/s, p99 ${r.batch.p99Ms} ms`,
      '',
      `≥ 100,000: ${check(r.batch.eventsPerSec >= 100_000)}`,
    ]);
    rows.push([
      '3 durable (FULL) group commit',
      `${r.durable.fullGroupEventsPerSec} ev/s`,
      `naive FULL ${r.durable.naiveFullEventsPerSec} ev/s → ×${r.durable.ratio}`,
      `≥ ×5: ${check(r.durable.ratio >= 5)}`,
    ]);
  }
  if (want('fleet')) {
    const { shape } = P.fleet;
    log(
      `fleet mass rebuild (start within ${shape.startWithinS} s, ${shape.tasks} tasks over ${shape.playS} s), ${P.fleet.sizes.join(', ')} VMs; receiver on CPU 0, load generator on CPU 1…`,
    );
    const fig = await fleetFigure(dir, { ...P.fleet, log });
    const head = fig.steps.at(-1)!;
    results.fleet = { run: { errors: head.load.errors, ...head }, figure: fig };
    peaks.push(...fig.steps.map((s) => s.peakRssMb));
    const lat = (st: typeof head) =>
      `p50/p99 ${st.load.latency.p50Ms}/${st.load.latency.p99Ms} ms, ${st.load.errors} errors, ${st.load.shed} shed`;
    const events = (st: typeof head) =>
      `${st.load.eventsDelivered}/${st.load.eventsProduced} events (lag p99 ${Math.round(st.load.lag.p99Ms / 100) / 10} s)`;
    rows.push([
      '4 fleet simulation',
      `${head.vms} VMs: ${lat(head)}, ${events(head)}`,
      `bare Fastify ${fig.bare.vms} VMs: ${lat(fig.bare)}; receiver CPU ${head.serverCpuPercent}%`,
      `10,000 at p99 < 100 ms: ${check(fig.capacityVms >= 10_000)}`,
    ]);
    rows.push([
      '4 fleet capacity',
      `${fig.capacityVms} VMs at p99 < 100 ms, no error`,
      fig.steps
        .map(
          (s) =>
            `${s.vms}: ${s.load.latency.p99Ms} ms, ${s.serverCpuPercent}% CPU, accept queue max ${s.acceptQueue.max}, ${s.tcp.TcpExtListenOverflows} overflows`,
        )
        .join('; '),
      `20,000 (stretch): ${check(fig.capacityVms >= 20_000)}`,
    ]);
    for (const [name, st] of [
      ['new connection per request', fig.perRequest],
      ['pacing off', fig.unpaced],
    ] as const) {
      rows.push([
        `4 fleet, ${name}`,
        `${st.vms} VMs: ${lat(st)}, ${events(st)}`,
        `${st.load.requests} requests, receiver CPU ${st.serverCpuPercent}%, ${st.tcp.TcpExtListenOverflows} listen overflows`,
        '',
      ]);
    }
    for (const [i, o] of fig.overload.entries()) {
      const answered = o.load.requests - o.load.shed - o.load.errors;
      const factor = P.fleet.overloadFactors[i];
      const ok =
        o.load.errors === 0 &&
        o.load.eventsDelivered === o.load.eventsProduced &&
        o.load.acceptedLatency.p99Ms < 250 &&
        o.tcp.TcpExtListenOverflows === 0;
      rows.push([
        `4 fleet at ${factor}x capacity`,
        `${o.vms} VMs: accepted p50/p99 ${o.load.acceptedLatency.p50Ms}/${o.load.acceptedLatency.p99Ms} ms, all ${lat(o)}; shed ${Math.round((o.load.shed / Math.max(1, o.load.requests)) * 100)}% of ${o.load.requests} requests`,
        `${answered} answered, ${events(o)} delivered, ${o.tcp.TcpExtListenOverflows} listen overflows`,
        `only 503/429, accepted p99 < 250 ms, every event, no overflow: ${check(ok)}`,
      ]);
    }
    rows.push([
      '4 fleet, every event at once',
      `${fig.harsh.vms} VMs: ${lat(fig.harsh)}, ${fig.harsh.load.eventsDelivered}/${fig.harsh.load.eventsProduced} events in ${fig.harsh.load.seconds} s`,
      `receiver CPU ${fig.harsh.serverCpuPercent}%`,
      '',
    ]);
  }
  if (want('queries')) {
    log(`queries on history (${P.history.hosts} hosts)…`);
    const q = await benchQueries(dir, P.history, P.samples);
    results.queries = q;
    peaks.push(q.peakRssMb);
    for (const [name, l] of Object.entries(q.latencies)) {
      const target = name.includes('fleet') ? 100 : 5;
      rows.push([
        `5 ${name}`,
        `p50 ${l.p50Ms} ms, p99 ${l.p99Ms} ms`,
        `${q.shape.taskResults} task results`,
        `p99 < ${target} ms: ${check(l.p99Ms < target)}`,
      ]);
    }
    rows.push(['5 start-up to ready', `${q.startupMs} ms`, 'on that database', `< 1000 ms: ${check(q.startupMs < 1000)}`]);
  }
  if (want('retention')) {
    const s = P.retention;
    log(`retention by value: ${s.generatedVms} VMs × ${s.days} days at ${s.intervalMin} min, scaled to ${s.vms}…`);
    const r = benchRetention(dir, s);
    results.retention = r;
    const scaled = r.scale === 1 ? '' : ` (${s.generatedVms} VMs generated, sizes ×${r.scale})`;
    rows.push([
      '10 retention by value',
      `${s.vms} VMs, ${s.days} days at ${s.intervalMin} min: ${r.sizeAfterMb} MB kept (all runs: ${r.sizeBeforeMb} MB)${scaled}`,
      `prune of the ${r.runs} generated runs (${r.events} events): ${r.pruneSeconds} s, ${r.prunedRunsPerSec} runs/s; ${r.runsKept} kept; the next hour's prune ${r.hourlySeconds} s`,
      '',
    ]);
  }
  if (want('steady')) {
    const s = P.steady;
    log(
      `steady state: ${s.vms} VMs every ${s.intervalMin} min, ${s.runShare * 100}% of pulls run the play; a ${s.windowS} s window at the real rate, a ${s.sampleHours} h sample of ${s.sampleVms} VMs for the database; receiver on CPU 0, load generator on CPU 1…`,
    );
    const r = await benchSteady(dir, s, log);
    results.steady = r;
    peaks.push(r.peakRssMb);
    const l = r.receiver.load;
    const rate = (x: number) => Math.round((x / l.seconds) * 10) / 10;
    rows.push([
      `11 steady state, ${s.vms} VMs every ${s.intervalMin} min`,
      `receiver CPU ${r.receiver.serverCpuPercent}% of a core, p99 ${l.latency.p99Ms} ms; ${rate(l.checkins)} check-ins/s, ${rate(l.runs)} runs/s, ${rate(l.requests)} req/s, ${l.errors} errors`,
      `bare Fastify, same load: CPU ${r.bare.serverCpuPercent}%, p99 ${r.bare.load.latency.p99Ms} ms; receiver idle ${r.idleCpuPercent}%; ${s.windowS} s at the real rate, signed with per-VM keys`,
      `CPU < 10% and p99 < 100 ms: ${check(r.receiver.serverCpuPercent < 10 && l.latency.p99Ms < 100 && l.errors === 0)}`,
    ]);
    const scaled = r.sample.scale === 1 ? '' : ` of ${s.sampleVms} VMs, extrapolated to ${s.vms}`;
    rows.push([
      '11 steady state, database growth',
      `${r.perDay.totalMb} MB/day before pruning (check-ins ${r.perDay.checkinMb}, runs ${r.perDay.runMb}); retention holds it at ~${r.retained.totalMb} MB`,
      `${r.sample.bytesPerCheckin} B a check-in, ${r.sample.bytesPerRun} B a ${s.tasks}-task run (${s.sampleHours} h sample${scaled}); kept: check-ins ${r.retained.checkinDays} d (${r.retained.checkinMb} MB), unchanged runs ${r.retained.unchangedDays} d, changed ${r.retained.changedDays} d (${r.retained.runMb} MB)`,
      '',
    ]);
  }
  if (want('waiters')) {
    log(`${P.waiters} waiters, ${P.waiterRounds} rounds; server on CPU 0, client on CPU 1…`);
    const w = await benchWaiters(dir, P.waiters, P.waiterRounds);
    const byRound = (p99: number[], wait: number[], steal: number[]) =>
      p99.map((p, i) => `${p} ms (waiting for CPU ${wait[i]}%, stolen ${steal[i]}%)`).join(', ');
    const r = w.rounds;
    log(
      `waiters p99 by round: receiver ${byRound(r.receiverP99Ms, r.receiverCpuWaitPercent, r.receiverStealPercent)}; bare Fastify ${byRound(r.bareP99Ms, r.bareCpuWaitPercent, r.bareStealPercent)}`,
    );
    results.waiters = w;
    peaks.push(w.peakRssMb);
    rows.push([
      '6 waiters',
      `${w.answered}/${w.waiters} answered, p99 ${w.answerP99Ms} ms, extra RSS ${w.extraRssMb} MB`,
      `bare Fastify holding requests: p99 ${w.bare.answerP99Ms} ms, extra RSS ${w.bare.extraRssMb} MB → p99 ×${w.p99Ratio}${P.waiterRounds > 1 ? ` (median of ${P.waiterRounds} rounds' ratios ${w.rounds.p99Ratio.map((x) => `×${x}`).join(', ')}; ratio of the medians ×${w.p99RatioOfMedians})` : ''}`,
      `p99 within 1.2× of bare: ${check(w.p99Ratio <= 1.2 && w.answered === w.waiters)}`,
    ]);
    rows.push([
      '6 waiters, absolute',
      `p99 ${w.answerP99Ms} ms, extra RSS ${w.extraRssMb} MB`,
      `bare Fastify: p99 ${w.bare.answerP99Ms} ms, extra RSS ${w.bare.extraRssMb} MB`,
      `< 100 MB and < 100 ms: ${check(w.extraRssMb < 100 && w.answerP99Ms < 100 && w.answered === w.waiters)}`,
    ]);
  }
  if (peaks.length > 0) {
    const peak = Math.max(...peaks);
    results.peakRssMb = peak;
    rows.push(['7 peak RSS of the receiver', `${peak} MB`, 'across all figures', `< 200 MB: ${check(peak < 200)}`]);
  }
  if (want('pages')) {
    log('status pages…');
    const { stdout } = await promisify(execFile)(process.execPath, [join(import.meta.dirname, 'pages.js'), ...(quick ? ['--quick'] : [])], {
      maxBuffer: 8 * 1024 * 1024,
    });
    const line = stdout.split('\n').find((l) => l.startsWith('BENCH_PAGES '));
    const pages = JSON.parse(line!.slice('BENCH_PAGES '.length)) as {
      hosts: number;
      tasks: number;
      server: Record<string, { medianMs: number; p95Ms: number }>;
      browser: { fleetPageMs?: number; runPageMs?: number; skipped?: string };
    };
    results.pages = pages;
    const server = Object.entries(pages.server).filter(([k]) => k.includes('GET'));
    rows.push([
      `9 status pages (${pages.hosts} hosts; ${pages.tasks}-task run)`,
      server.map(([k, v]) => `${k.split(': ')[1]} p95 ${v.p95Ms} ms`).join(', '),
      pages.browser.skipped ?? `browser load: fleet ${pages.browser.fleetPageMs} ms, run ${pages.browser.runPageMs} ms`,
      `< 1000 ms: ${check(server.every(([, v]) => v.p95Ms < 1000) && (pages.browser.fleetPageMs ?? 0) < 1000 && (pages.browser.runPageMs ?? 0) < 1000)}`,
    ]);
  }
  if (want('callback')) {
    log('callback overhead…');
    const c = await benchCallback(dir, P.cbTasks, P.cbRuns);
    results.callback = c;
    if ('skipped' in c) rows.push(['8 callback overhead', 'skipped', c.skipped, '']);
    else {
      rows.push([
        '8 callback, receiver up',
        `wall ${c.upS} s vs ${c.disabledS} s (${c.upOverheadPercent > 0 ? '+' : ''}${c.upOverheadPercent}%)`,
        `${c.tasks} tasks, median of ${c.runs}; CPU ${c.cpu.upS} s vs ${c.cpu.disabledS} s (${c.cpu.upOverheadPercent > 0 ? '+' : ''}${c.cpu.upOverheadPercent}%)`,
        `< 5%: ${check(c.upOverheadPercent < 5)}`,
      ]);
      rows.push([
        '8 callback, receiver down',
        `${c.downS} s vs ${c.disabledS} s`,
        `+${c.downAddedS} s`,
        `< 10 s: ${check(c.downAddedS < 10)}`,
      ]);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

results.finished = new Date().toISOString();
writeFileSync(join(import.meta.dirname, '..', '..', 'bench', 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i]!.length), 6));
const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
process.stdout.write(`${line(['figure', 'measured', 'baseline / context', 'target'])}\n`);
process.stdout.write(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|\n`);
for (const r of rows) process.stdout.write(`${line(r)}\n`);
