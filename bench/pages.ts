/**
 * Server time of the status pages at fleet size: the fleet page with 2,000 hosts and a run page
 * with 1,000 tasks, as store query + render and as a whole request, and in headless Chromium from
 * request to the end of the load event. Prints the figures; gates nothing. npm run bench runs it.
 * npm run build && node dist/bench/pages.js [--quick]
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp } from '../src/app.js';
import { testConfig } from '../src/config.js';
import { openDatabase } from '../src/db/database.js';
import { migrate } from '../src/db/migrate.js';
import { fleetPage } from '../src/pages/fleet.js';
import { runPage } from '../src/pages/run.js';

const quick = process.argv.includes('--quick');
const HOSTS = quick ? 200 : 2000;
const TASKS = quick ? 100 : 1000;
const SAMPLES = quick ? 5 : 50;
const BROWSER_SAMPLES = quick ? 2 : 7;

const dir = mkdtempSync(join(tmpdir(), 'webhook-bench-pages-'));
const config = testConfig({ dbPath: join(dir, 'webhook.db'), rateLimitPerMinute: 0 });
const db = openDatabase(config.dbPath);
migrate(db);
const app = await buildApp(config, { db });
await app.ready();

const t0 = Date.now() - 3600_000;
const at = (ms: number) => new Date(t0 + ms).toISOString();
const envelope = (run: string, seq: number, ms: number, hostname: string) => ({
  v: 1,
  event_id: randomUUID(),
  run_id: run,
  seq,
  time: at(ms),
  host: { hostname },
});
const statuses = ['ok', 'changed', 'failed', 'skipped'] as const;

async function deliver(events: object[]): Promise<void> {
  for (let i = 0; i < events.length; i += 1000) {
    const res = await app.inject({
      method: 'POST',
      url: '/webhook',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ events: events.slice(i, i + 1000) }),
    });
    if (res.statusCode !== 200) throw new Error(`seeding failed: ${res.statusCode} ${res.body}`);
  }
}

// 2,000 hosts, one finished run each, one in ten failed.
const fleetEvents: object[] = [];
for (let h = 0; h < HOSTS; h++) {
  const run = randomUUID();
  const hostname = `vm-${String(h).padStart(4, '0')}`;
  const failed = h % 10 === 0 ? 1 : 0;
  fleetEvents.push({
    ...envelope(run, 0, 0, hostname),
    kind: 'run_started',
    data: { playbook: 'site.yml', ansible_version: '2.14.18', commit: 'abc1234' },
  });
  fleetEvents.push({
    ...envelope(run, 1, 60_000, hostname),
    kind: 'run_finished',
    data: {
      result: failed ? 'failed' : 'success',
      duration_ms: 60_000,
      stats: { localhost: { ok: 40, changed: 2, failed, skipped: 3, unreachable: 0, rescued: 0, ignored: 0 } },
    },
  });
}
await deliver(fleetEvents);

// One run of 1,000 tasks in 10 plays, with messages.
const bigRun = randomUUID();
const runEvents: object[] = [
  { ...envelope(bigRun, 0, 0, 'big-vm'), kind: 'run_started', data: { playbook: 'site.yml', ansible_version: '2.14.18' } },
];
for (let i = 1; i <= TASKS; i++) {
  const status = statuses[i % statuses.length]!;
  runEvents.push({
    ...envelope(bigRun, i, i * 250, 'big-vm'),
    kind: 'task_result',
    data: {
      play: `Play ${Math.ceil(i / 100)}`,
      task: `Task number ${i}`,
      action: 'ansible.builtin.command',
      status,
      duration_ms: 200,
      message: `output of task ${i} `.repeat(10),
    },
  });
}
runEvents.push({
  ...envelope(bigRun, TASKS + 1, TASKS * 250 + 100, 'big-vm'),
  kind: 'run_finished',
  data: { result: 'failed', duration_ms: TASKS * 250 + 100, stats: {} },
});
await deliver(runEvents);

/** Median and p95 over SAMPLES calls of `fn`, which returns the size of what it produced. */
async function measure(fn: () => number | Promise<number>): Promise<{ medianMs: number; p95Ms: number; bytes: number }> {
  let bytes = 0;
  const times: number[] = [];
  for (let i = 0; i < SAMPLES + 5; i++) {
    const start = process.hrtime.bigint();
    bytes = await fn();
    // The first few calls warm up the JIT and SQLite's page cache.
    if (i >= 5) times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  times.sort((a, b) => a - b);
  const pick = (q: number) => Math.round(times[Math.min(times.length - 1, Math.floor(q * times.length))]! * 100) / 100;
  return { medianMs: pick(0.5), p95Ms: pick(0.95), bytes };
}

const request = (url: string) => async () => {
  const res = await app.inject({ method: 'GET', url });
  if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode}`);
  return res.rawPayload.length;
};

const ctx = app.ctx;
const view = { now: Date.now(), receiverUrl: 'http://bench' };
const fleet = ctx.query.fleet();
const bigHostId = ctx.query.findHostId('big-vm')!;
const rows = {
  [`fleet page, ${HOSTS} hosts: render only`]: await measure(() => fleetPage(fleet, view).value.length),
  [`fleet page, ${HOSTS} hosts: query + render`]: await measure(() => fleetPage(ctx.query.fleet(), view).value.length),
  [`fleet page, ${HOSTS} hosts: GET /`]: await measure(request('/')),
  [`run page, ${TASKS} tasks: query + render`]: await measure(
    () => runPage(ctx.query.run(bigRun)!, 'big-vm', bigHostId, Date.now()).value.length,
  ),
  [`run page, ${TASKS} tasks: GET /ui/runs/:id`]: await measure(request(`/ui/runs/${bigRun}`)),
};

console.log(`status pages, ${SAMPLES} samples each (Node ${process.version})`);
for (const [name, r] of Object.entries(rows)) {
  console.log(
    `${name.padEnd(44)} median ${String(r.medianMs).padStart(7)} ms   p95 ${String(r.p95Ms).padStart(7)} ms   ${(r.bytes / 1024).toFixed(0).padStart(5)} KiB`,
  );
}

/**
 * Browser time: headless Chromium loads each page; the navigation entry's duration runs from the
 * request to the end of the load event, so it holds server, transfer, parsing, layout and scripts.
 */
async function browserTimes(): Promise<Record<string, number> | { skipped: string }> {
  if (!existsSync('/usr/bin/chromium')) return { skipped: 'chromium is not installed' };
  const { chromium } = await import('playwright-core');
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-quic',
      '--no-first-run',
    ],
  });
  try {
    const page = await browser.newPage();
    const load = async (path: string) => {
      const times: number[] = [];
      for (let i = 0; i < BROWSER_SAMPLES; i++) {
        await page.goto(`${address}${path}`, { waitUntil: 'load' });
        times.push(await page.evaluate(() => (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming).duration));
      }
      times.sort((a, b) => a - b);
      return Math.round(times[Math.floor(times.length / 2)]!);
    };
    return { fleetPageMs: await load('/'), runPageMs: await load(`/ui/runs/${bigRun}`) };
  } finally {
    await browser.close();
  }
}

const browser = await browserTimes();
console.log(`browser, request to end of load, median of ${BROWSER_SAMPLES}: ${JSON.stringify(browser)}`);
// One machine-readable line for bench/run.ts.
console.log(`BENCH_PAGES ${JSON.stringify({ hosts: HOSTS, tasks: TASKS, server: rows, browser })}`);

await app.close();
db.close();
rmSync(dir, { recursive: true, force: true });
