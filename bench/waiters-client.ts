/**
 * The waiters figure's client, run as its own process (the bench pins it to the other core from
 * the server): opens COUNT long-polls, says `WAITERS_HELD` once the server reports them all
 * waiting, and on a `go` line on stdin posts what answers them (the run's finish, or bare
 * Fastify's release) and times every answer from just before that post.
 *
 * Input: one JSON argument (WaitersClientOptions). Output: `WAITERS_HELD`, then `WAITERS <json>`.
 */
import { Agent, request } from 'node:http';
import { createInterface } from 'node:readline';
import { percentile, round } from './lib/stats.js';

export interface WaitersClientOptions {
  url: string;
  count: number;
  /** The long-poll, e.g. /hosts/waited-on/wait?timeout=120. */
  path: string;
  /** What answers them all: a POST of `body` (JSON) to `path`. */
  finish: { path: string; body?: unknown };
}

export interface WaitersClientResult {
  answered: number;
  /** Wake-up: from just before the finishing POST to each 200 answer. */
  answerP50Ms: number;
  answerP99Ms: number;
  answerMaxMs: number;
  finishPostMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitingCount(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^webhook_waiters (\d+)/m.exec(text)?.[1] ?? 0);
}

/**
 * The finishing POST on a connection of its own, as the plugin sends: a kept-alive one from the
 * /metrics polling could be closed by the server just as it is reused (seen as ECONNRESET).
 */
function postFresh(url: string, finish: WaitersClientOptions['finish']): Promise<number> {
  const { hostname, port } = new URL(url);
  const body = finish.body === undefined ? '' : JSON.stringify(finish.body);
  const headers = finish.body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path: finish.path, method: 'POST', agent: false, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

export async function runWaitersClient(o: WaitersClientOptions, go: Promise<void>): Promise<WaitersClientResult> {
  const { hostname, port } = new URL(o.url);
  const agent = new Agent({ keepAlive: false, maxSockets: Infinity });
  let finishedAt = 0;
  const answers: number[] = [];
  const pending = Array.from(
    { length: o.count },
    () =>
      new Promise<void>((resolve) => {
        const req = request({ host: hostname, port, path: o.path, agent }, (res) => {
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
  while ((await waitingCount(o.url)) < o.count && Date.now() < deadline) await sleep(200);
  process.stdout.write('WAITERS_HELD\n');
  await go;
  finishedAt = performance.now();
  const status = await postFresh(o.url, o.finish);
  const finishPostMs = performance.now() - finishedAt;
  if (status !== 200) throw new Error(`${o.finish.path} answered ${status}`);
  await Promise.all(pending);
  agent.destroy();
  return {
    answered: answers.length,
    answerP50Ms: round(percentile(answers, 50), 1),
    answerP99Ms: round(percentile(answers, 99), 1),
    answerMaxMs: round(percentile(answers, 100), 1),
    finishPostMs: round(finishPostMs, 1),
  };
}

if (process.argv[1] === import.meta.filename) {
  const go = new Promise<void>((resolve) => {
    createInterface({ input: process.stdin }).on('line', (line) => {
      if (line === 'go') resolve();
    });
  });
  const result = await runWaitersClient(JSON.parse(process.argv[2]!) as WaitersClientOptions, go);
  process.stdout.write(`WAITERS ${JSON.stringify(result)}\n`);
  process.exit(0);
}
