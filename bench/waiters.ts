/** Figure 6: many concurrent long-polls: their memory, and how fast all answer when the run finishes. */
import { randomUUID } from 'node:crypto';
import { request as httpRequest, Agent as HttpAgent } from 'node:http';
import { join } from 'node:path';
import { startChild, trackPeak, type Child } from './lib/proc.js';
import { percentile, round } from './lib/stats.js';

export interface WaiterFigures {
  waiters: number;
  answered: number;
  extraRssMb: number;
  answerP50Ms: number;
  answerP99Ms: number;
  peakRssMb: number;
}

export interface WaiterResult extends WaiterFigures {
  bare: WaiterFigures;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function post(url: string, body: unknown): Promise<void> {
  const res = await fetch(`${url}/webhook`, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
  });
  if (res.status !== 200) throw new Error(`ingest answered ${res.status}`);
}

async function waitingCount(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^webhook_waiters (\d+)/m.exec(text)?.[1] ?? 0);
}

/** The same client procedure against bare Fastify holding requests, as the baseline. */
export async function benchWaiters(dir: string, count: number): Promise<WaiterResult> {
  const bare = await startChild('bench/bare-server.js');
  const bareFigures = await measure(bare, count, async () => {
    await fetch(`${bare.url}/release`, { method: 'POST' });
  });
  await bare.stop();
  const receiver = await startChild('src/server.js', { WEBHOOK_DB: join(dir, 'waiters.db') });
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
  const figures = await measure(receiver, count, () =>
    post(
      receiver.url,
      event(1, 'run_finished', {
        result: 'success',
        duration_ms: 1,
        stats: { localhost: { ok: 1, changed: 0, failed: 0, skipped: 0, unreachable: 0, rescued: 0, ignored: 0 } },
      }),
    ),
  );
  await receiver.stop();
  return { ...figures, bare: bareFigures };
}

async function measure(receiver: Child, count: number, finish: () => Promise<void>): Promise<WaiterFigures> {
  const peak = trackPeak(receiver);
  await sleep(300);
  const rssBefore = receiver.rssMb();

  const { hostname, port } = new URL(receiver.url);
  const agent = new HttpAgent({ keepAlive: false, maxSockets: Infinity });
  let finishedAt = 0;
  const answers: number[] = [];
  const pending = Array.from(
    { length: count },
    () =>
      new Promise<void>((resolve) => {
        const req = httpRequest({ host: hostname, port, path: '/hosts/waited-on/wait?timeout=120', agent }, (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode === 200) answers.push(performance.now() - finishedAt);
            resolve();
          });
        });
        req.on('error', () => resolve());
        req.end();
      }),
  );
  const deadline = Date.now() + 60_000;
  while ((await waitingCount(receiver.url)) < count && Date.now() < deadline) await sleep(200);
  await sleep(500);
  const rssWaiting = receiver.rssMb();
  finishedAt = performance.now();
  await finish();
  await Promise.all(pending);
  agent.destroy();
  const peakRss = peak();
  return {
    waiters: count,
    answered: answers.length,
    extraRssMb: round(rssWaiting - rssBefore, 0),
    answerP50Ms: round(percentile(answers, 50), 1),
    answerP99Ms: round(percentile(answers, 99), 1),
    peakRssMb: round(peakRss, 0),
  };
}
