/**
 * Ingest figures 1–3: single events and batches against the bare-Fastify baseline, and durable
 * mode (synchronous=FULL with group commit) against the same receiver committing each delivery alone.
 * Servers run on CPU 0 and wrk on CPU 1.
 */
import { join } from 'node:path';
import { startChild, trackPeak } from './lib/proc.js';
import { median, round } from './lib/stats.js';
import { wrk } from './lib/wrk.js';

export interface IngestOptions {
  dir: string;
  runs: number;
  seconds: number;
  connections: number;
}

export interface IngestResult {
  single: { bareReqPerSec: number; receiverReqPerSec: number; ratio: number; bareP99Ms: number; receiverP99Ms: number; non2xx: number };
  batch: { eventsPerSec: number; p99Ms: number; non2xx: number };
  durable: { fullGroupEventsPerSec: number; naiveFullEventsPerSec: number; ratio: number };
  peakRssMb: number;
}

/** Every server on CPU 0, wrk on CPU 1 (bench/lib/wrk.ts): each figure is the server's alone. */
const ALONE = { cpu: 0 };

export async function benchIngest(o: IngestOptions): Promise<IngestResult> {
  const bare = await startChild('bench/bare-server.js', {}, ALONE);
  const receiver = await startChild('src/server.js', { WEBHOOK_DB: join(o.dir, 'ingest.db') }, ALONE);
  const peak = trackPeak(receiver);
  const bareRuns = [];
  const recvRuns = [];
  // Alternate the two so drift on a shared machine hits both alike.
  for (let i = 0; i < o.runs; i++) {
    bareRuns.push(await wrk(bare.url, { connections: o.connections, seconds: o.seconds }));
    recvRuns.push(await wrk(receiver.url, { connections: o.connections, seconds: o.seconds }));
  }
  const batchRuns = [];
  for (let i = 0; i < o.runs; i++) batchRuns.push(await wrk(receiver.url, { connections: 16, seconds: o.seconds, batch: 100 }));
  await bare.stop();
  const peakMain = peak();
  await receiver.stop();

  const full = await startChild('src/server.js', { WEBHOOK_DB: join(o.dir, 'full.db'), WEBHOOK_DURABILITY: 'full' }, ALONE);
  const peakFull = trackPeak(full);
  const fullRuns = [];
  for (let i = 0; i < o.runs; i++) fullRuns.push(await wrk(full.url, { connections: o.connections, seconds: o.seconds }));
  const peakDurable = peakFull();
  await full.stop();
  // Baseline: the same receiver, same FULL setting, one transaction (one fsync) per delivery.
  const naiveServer = await startChild('bench/naive-server.js', { WEBHOOK_DB: join(o.dir, 'naive.db'), WEBHOOK_DURABILITY: 'full' }, ALONE);
  const naiveRuns = [];
  for (let i = 0; i < o.runs; i++) naiveRuns.push(await wrk(naiveServer.url, { connections: o.connections, seconds: o.seconds }));
  await naiveServer.stop();
  const naive = median(naiveRuns.map((r) => r.requestsPerSec));

  const bareRps = median(bareRuns.map((r) => r.requestsPerSec));
  const recvRps = median(recvRuns.map((r) => r.requestsPerSec));
  const fullRps = median(fullRuns.map((r) => r.requestsPerSec));
  return {
    single: {
      bareReqPerSec: round(bareRps, 0),
      receiverReqPerSec: round(recvRps, 0),
      ratio: round(recvRps / bareRps, 2),
      bareP99Ms: round(median(bareRuns.map((r) => r.p99Ms)), 2),
      receiverP99Ms: round(median(recvRuns.map((r) => r.p99Ms)), 2),
      non2xx: recvRuns.reduce((a, r) => a + r.non2xx + r.errors, 0),
    },
    batch: {
      eventsPerSec: round(median(batchRuns.map((r) => r.requestsPerSec)) * 100, 0),
      p99Ms: round(median(batchRuns.map((r) => r.p99Ms)), 2),
      non2xx: batchRuns.reduce((a, r) => a + r.non2xx + r.errors, 0),
    },
    durable: { fullGroupEventsPerSec: round(fullRps, 0), naiveFullEventsPerSec: round(naive, 0), ratio: round(fullRps / naive, 1) },
    peakRssMb: round(Math.max(peakMain, peakDurable), 0),
  };
}
