/**
 * Retention: on a schedule, delete runs (with their events) older than WEBHOOK_RETENTION_DAYS,
 * hosts unseen for as long (their metric series go with them, since metrics read the hosts table),
 * and give the freed pages back to the file system with incremental vacuum.
 */
import type { AppContext } from './context.js';
import type { Logger } from './logger.js';

const CHUNK = 2000;

export interface PruneResult {
  runs: number;
  hosts: number;
  cloudInitEvents: number;
  checkins: number;
}

export function createRetention(ctx: AppContext, logger: Logger) {
  const { db } = ctx;
  const oldRuns = db.prepare<{ before: number; limit: number }>(
    `DELETE FROM runs WHERE run_id IN (SELECT run_id FROM runs WHERE started_at < @before LIMIT @limit)`,
  );
  const oldCloudInit = db.prepare<{ before: number; limit: number }>(
    `DELETE FROM cloud_init_events WHERE id IN (SELECT id FROM cloud_init_events WHERE time < @before LIMIT @limit)`,
  );
  const oldCheckins = db.prepare<{ before: number; limit: number }>(
    `DELETE FROM checkins WHERE event_id IN (SELECT event_id FROM checkins WHERE received_at < @before LIMIT @limit)
       AND event_id NOT IN (SELECT last_checkin_id FROM hosts WHERE last_checkin_id IS NOT NULL)`,
  );
  // A host still expected stays, silent or not: it is what makes a missing VM visible.
  const oldHosts = db.prepare<{ before: number }>(
    `DELETE FROM hosts WHERE last_seen_at < @before AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.host_id = hosts.id)
       AND NOT EXISTS (SELECT 1 FROM expected_vms e WHERE e.host_id = hosts.id)`,
  );
  let timer: NodeJS.Timeout | undefined;

  function deleteInChunks(stmt: typeof oldRuns, before: number): number {
    let total = 0;
    // Small transactions keep each write lock short, so ingest is never blocked for long.
    for (;;) {
      const n = db.transaction(() => stmt.run({ before, limit: CHUNK }).changes).immediate();
      total += n;
      if (n < CHUNK) return total;
    }
  }

  function prune(now: number = ctx.clock()): PruneResult {
    const before = now - ctx.config.retentionDays * 86_400_000;
    const runs = deleteInChunks(oldRuns, before);
    const cloudInitEvents = deleteInChunks(oldCloudInit, before);
    const checkins = deleteInChunks(oldCheckins, before);
    const hosts = db.transaction(() => oldHosts.run({ before }).changes).immediate();
    if (runs + hosts + cloudInitEvents + checkins > 0) db.pragma('incremental_vacuum');
    return { runs, hosts, cloudInitEvents, checkins };
  }

  function tick(): void {
    try {
      const result = prune();
      if (result.runs + result.hosts + result.cloudInitEvents + result.checkins > 0) logger.info({ pruned: result }, 'retention pruned old data');
    } catch (err) {
      logger.warn({ err }, 'retention run failed; will retry at the next interval');
    }
  }

  return {
    prune,
    start(): void {
      if (timer) return;
      timer = setInterval(tick, ctx.config.pruneIntervalMs);
      timer.unref();
      setImmediate(tick);
    },
    stop(): void {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}

export type Retention = ReturnType<typeof createRetention>;
