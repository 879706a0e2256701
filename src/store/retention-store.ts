/**
 * Deleting what retention no longer keeps: runs (their events go with them), cloud-init events, and
 * hosts unseen since the cut-off that have no run left; then the freed pages go back to the file system.
 * Runs are kept by value: one that succeeded and changed nothing goes after the short cut-off, one
 * that changed, failed, drifted or never finished after the long one; a host still seen keeps its
 * latest run and its latest run of each outcome, however old.
 */
import type { Db } from '../db/database.js';
import { runOutcomes } from '../protocol/status.js';
import { hostLastSeenLookupSql, hostLastSeenSql } from './status-sql.js';

const CHUNK = 2000;

export interface PruneResult {
  runs: number;
  hosts: number;
  cloudInitEvents: number;
  checkins: number;
}

export function createRetentionStore(db: Db) {
  // Hosts unseen past the long cut-off keep nothing: their runs go, and then the host.
  const keptRuns = db.prepare<{ before: number }, { id: number | null }>(
    `SELECT r.id FROM hosts h JOIN runs r ON r.run_id = h.latest_run_id WHERE ${hostLastSeenSql('h', 'r')} >= @before
     UNION SELECT (SELECT r.id FROM runs r WHERE r.host_id = h.id AND r.outcome = o.value ORDER BY r.started_at DESC, r.run_id DESC LIMIT 1)
       FROM hosts h, json_each('${JSON.stringify(runOutcomes)}') o WHERE ${hostLastSeenLookupSql('h')} >= @before`,
  );
  // Walks runs older than the short cut-off in start order, a window at a time, so the runs it
  // keeps are read once rather than again for every chunk.
  type Scan = { before: number; before_unchanged: number; c_started: number | null; c_id: string | null; limit: number };
  const scanRuns = db.prepare<Scan, { id: number; run_id: string; started_at: number; doomed: number }>(
    `SELECT id, run_id, started_at, (started_at < @before OR (outcome = 'unchanged' AND status = 'succeeded')) AS doomed
     FROM runs WHERE started_at < @before_unchanged
       AND (@c_started IS NULL OR started_at > @c_started OR (started_at = @c_started AND run_id > @c_id))
     ORDER BY started_at, run_id LIMIT @limit`,
  );
  const deleteRun = db.prepare<[number]>('DELETE FROM runs WHERE id = ?');
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

  /** Deletes the runs retention no longer keeps, a chunk per transaction. */
  function pruneRuns(before: number, beforeUnchanged: number): number {
    const keep = new Set(keptRuns.all({ before }).flatMap((r) => (r.id === null ? [] : [r.id])));
    let total = 0;
    let cursor: { started_at: number; run_id: string } | undefined;
    for (;;) {
      const n = db
        .transaction(() => {
          const rows = scanRuns.all({
            before,
            before_unchanged: beforeUnchanged,
            c_started: cursor?.started_at ?? null,
            c_id: cursor?.run_id ?? null,
            limit: CHUNK,
          });
          const last = rows[rows.length - 1];
          cursor = last && { started_at: last.started_at, run_id: last.run_id };
          let deleted = 0;
          for (const r of rows) if (r.doomed && !keep.has(r.id)) deleted += deleteRun.run(r.id).changes;
          return { scanned: rows.length, deleted };
        })
        .immediate();
      total += n.deleted;
      if (n.scanned < CHUNK) return total;
    }
  }

  function deleteInChunks(stmt: typeof oldCloudInit, before: number): number {
    let total = 0;
    // Small transactions keep each write lock short, so ingest is never blocked for long.
    for (;;) {
      const n = db.transaction(() => stmt.run({ before, limit: CHUNK }).changes).immediate();
      total += n;
      if (n < CHUNK) return total;
    }
  }

  return {
    /**
     * Deletes what is older than `before` (ms since the epoch), and successful runs that changed
     * nothing older than `beforeUnchanged` (at least `before`; defaults to it).
     */
    pruneBefore(before: number, beforeUnchanged: number = before): PruneResult {
      const runs = pruneRuns(before, Math.max(before, beforeUnchanged));
      const cloudInitEvents = deleteInChunks(oldCloudInit, before);
      const checkins = deleteInChunks(oldCheckins, before);
      const hosts = db.transaction(() => oldHosts.run({ before }).changes).immediate();
      if (runs + hosts + cloudInitEvents + checkins > 0) db.pragma('incremental_vacuum');
      return { runs, hosts, cloudInitEvents, checkins };
    },
  };
}

export type RetentionStore = ReturnType<typeof createRetentionStore>;
