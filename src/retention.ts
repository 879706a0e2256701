/**
 * Retention on a schedule: every WEBHOOK_PRUNE_INTERVAL_SECONDS (and once at start), delete runs
 * that succeeded and changed nothing after WEBHOOK_RETENTION_UNCHANGED_DAYS, other runs after
 * WEBHOOK_RETENTION_DAYS, and hosts unseen for as long (their metric series go with them, since
 * metrics read the hosts table). What is deleted and what is always kept is src/store/retention-store.ts.
 */
import type { Logger } from './logger.js';
import type { PruneResult, RetentionStore } from './store/retention-store.js';

export type { PruneResult } from './store/retention-store.js';

export interface RetentionOptions {
  store: RetentionStore;
  retentionDays: number;
  /** Defaults to retentionDays: every run is kept as long. */
  retentionUnchangedDays?: number;
  intervalMs: number;
  clock: () => number;
  logger: Logger;
}

export function createRetention({
  store,
  retentionDays,
  retentionUnchangedDays = retentionDays,
  intervalMs,
  clock,
  logger,
}: RetentionOptions) {
  let timer: NodeJS.Timeout | undefined;

  function prune(now: number = clock()): PruneResult {
    return store.pruneBefore(now - retentionDays * 86_400_000, now - retentionUnchangedDays * 86_400_000);
  }

  function tick(): void {
    try {
      const result = prune();
      if (result.runs + result.hosts + result.cloudInitEvents + result.checkins > 0)
        logger.info({ pruned: result }, 'retention pruned old data');
    } catch (err) {
      logger.warn({ err }, 'retention run failed; will retry at the next interval');
    }
  }

  return {
    prune,
    start(): void {
      if (timer) return;
      timer = setInterval(tick, intervalMs);
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
