/** Figure 5: query latency on a year of history, and start-up time on that database. */
import { join } from 'node:path';
import { Pool } from 'undici';
import { generateHistory, type HistoryShape } from './history.js';
import { startChild, trackPeak } from './lib/proc.js';
import { percentile, round } from './lib/stats.js';

export interface QueryResult {
  shape: HistoryShape & { taskResults: number; generateSeconds: number };
  startupMs: number;
  latencies: Record<string, { p50Ms: number; p99Ms: number; samples: number }>;
  peakRssMb: number;
}

export async function benchQueries(dir: string, shape: HistoryShape, samples: number): Promise<QueryResult> {
  const path = join(dir, 'history.db');
  const history = generateHistory(path, shape);
  const receiver = await startChild('src/server.js', { WEBHOOK_DB: path, WEBHOOK_RETENTION_DAYS: '400' });
  const peak = trackPeak(receiver);
  const pool = new Pool(receiver.url, { connections: 1 });
  const pick = <T>(xs: T[]) => xs[Math.floor(Math.random() * xs.length)]!;
  const time = async (path: string): Promise<number> => {
    const t = performance.now();
    const res = await pool.request({ path, method: 'GET' });
    await res.body.text();
    if (res.statusCode !== 200) throw new Error(`${path} answered ${res.statusCode}`);
    return performance.now() - t;
  };
  const identities = (h: string) => {
    const n = Number(h.slice(5));
    return pick([h, n.toString(16).padStart(32, '0'), String(10_000 + n), `10.${n >> 8}.${n & 255}.10`]);
  };
  const cases: Record<string, () => string> = {
    'GET /hosts/:host': () => `/hosts/${identities(pick(history.hostnames))}`,
    'GET /runs?host=…': () => `/runs?host=${identities(pick(history.hostnames))}`,
    'GET /runs/:id': () => `/runs/${pick(history.runIds)}`,
    'GET /hosts (fleet)': () => '/hosts',
  };
  const latencies: QueryResult['latencies'] = {};
  for (const [name, url] of Object.entries(cases)) {
    const n = name === 'GET /hosts (fleet)' ? Math.max(5, Math.floor(samples / 10)) : samples;
    for (let i = 0; i < 3; i++) await time(url()); // warm-up
    const xs: number[] = [];
    for (let i = 0; i < n; i++) xs.push(await time(url()));
    latencies[name] = { p50Ms: round(percentile(xs, 50), 2), p99Ms: round(percentile(xs, 99), 2), samples: n };
  }
  await pool.close();
  const peakRss = peak();
  await receiver.stop();
  return {
    shape: { ...shape, taskResults: history.taskResults, generateSeconds: round(history.seconds, 1) },
    startupMs: round(receiver.readyMs, 0),
    latencies,
    peakRssMb: round(peakRss, 0),
  };
}
