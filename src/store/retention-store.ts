/**
 * Deleting what retention no longer keeps: runs (their events go with them), cloud-init events, and
 * hosts unseen since the cut-off that have no run left; then the freed pages go back to the file system.
 */
import type { Db } from '../db/database.js';

const CHUNK = 2000;

export interface PruneResult {
  runs: number;
  hosts: number;
  cloudInitEvents: number;
  checkins: number;
}

export function createRetentionStore(db: Db) {
  const oldRuns = db.prepare<{ before: number; limit: number }>(
    `DELETE FROM runs WHERE run_id IN (SELECT run_id FROM runs WHERE started_at < @before LIMIT @limit)`,
  );
  const oldCloudInit = db.prepare<{ before: number; limit: number }>(
    `DELETE FROM cloud_init_events WHERE id IN (SELECT id FROM cloud_init_events WHERE time < @before LIMIT @limit)`,
  );
  // Each host's newest check-in stays: it carries the host's pull interval and latest result.
  const oldCheckins = db.prepare<{ before: number; limit: number }>(
    `DELETE FROM checkins WHERE event_id IN (SELECT event_id FROM checkins WHERE received_at < @before LIMIT @limit)
       AND event_id NOT IN (SELECT last_checkin_id FROM hosts WHERE last_checkin_id IS NOT NULL)`,
  );
  // A host still expected stays, silent or not: it is what makes a missing VM visible.
  const oldHosts = db.prepare<{ before: number }>(
    `DELETE FROM hosts WHERE last_seen_at < @before AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.host_id = hosts.id)
       AND NOT EXISTS (SELECT 1 FROM expected_vms e WHERE e.host_id = hosts.id)`,
  );

  function deleteInChunks(stmt: typeof oldRuns, before: number): number {
    let total = 0;
    // Small transactions keep each write lock short, so ingest is never blocked for long.
    for (;;) {
      const n = db.transaction(() => stmt.run({ before, limit: CHUNK }).changes).immediate();
      total += n;
      if (n < CHUNK) return total;
    }
  }

  return {
    /** Deletes everything older than `before` (ms since the epoch). */
    pruneBefore(before: number): PruneResult {
      const runs = deleteInChunks(oldRuns, before);
      const cloudInitEvents = deleteInChunks(oldCloudInit, before);
      const checkins = deleteInChunks(oldCheckins, before);
      const hosts = db.transaction(() => oldHosts.run({ before }).changes).immediate();
      if (runs + hosts + cloudInitEvents + checkins > 0) db.pragma('incremental_vacuum');
      return { runs, hosts, cloudInitEvents, checkins };
    },
  };
}

export type RetentionStore = ReturnType<typeof createRetentionStore>;
