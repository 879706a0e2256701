/** A small load generator for end-to-end tests: concurrent ingest, remembering what was acknowledged. */
import { setTimeout as delay } from 'node:timers/promises';
import { Pool } from 'undici';
import { runEvents, host } from '../helper.js';

export interface LoadResult {
  acked: Set<string>;
  statuses: Map<number, number>;
  errors: number;
}

export interface Load {
  result: LoadResult;
  /** Stops issuing requests and resolves when every client has finished. */
  stop: () => Promise<LoadResult>;
  done: Promise<LoadResult>;
}

/** Starts `clients` loops that post batches of 1–5 events until stopped or the server goes away. */
export function startLoad(url: string, clients = 16, maxRequests = 1_000_000): Load {
  const pool = new Pool(url, { connections: clients, pipelining: 1 });
  const result: LoadResult = { acked: new Set(), statuses: new Map(), errors: 0 };
  let running = true;
  let sent = 0;
  const loop = async (i: number) => {
    const r = runEvents({ host: host({ hostname: `load-${i}`, machine_id: undefined }) });
    let first = true;
    while (running && sent < maxRequests) {
      sent++;
      const events = first ? [r.started()] : Array.from({ length: 1 + (sent % 5) }, () => r.task('ok'));
      first = false;
      try {
        const res = await pool.request({
          path: '/webhook',
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ events }),
        });
        await res.body.dump();
        result.statuses.set(res.statusCode, (result.statuses.get(res.statusCode) ?? 0) + 1);
        if (res.statusCode === 200) for (const e of events) result.acked.add(e.event_id);
      } catch {
        // Connection refused or reset: the server is gone; the events were not acknowledged.
        result.errors++;
        if (result.errors > clients * 3) running = false;
        await delay(20);
      }
    }
  };
  const done = Promise.all(Array.from({ length: clients }, (_, i) => loop(i))).then(async () => {
    await pool.destroy();
    return result;
  });
  return {
    result,
    done,
    stop: async () => {
      running = false;
      return done;
    },
  };
}
