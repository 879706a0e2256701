/** The reads behind the Prometheus gauges, computed at scrape time from the runs and hosts tables. */
import type { Db } from '../db/database.js';
import type { HostStatus, RunStatus } from '../protocol/status.js';
import { hostStatusSql, runStatusSql } from './status-sql.js';

export function createGaugeStore(db: Db, staleAfterMs: number, clock: () => number = Date.now) {
  const runCounts = db.prepare<{ stale_before: number }, { status: RunStatus; n: number }>(
    `SELECT ${runStatusSql('r')} AS status, count(*) AS n FROM runs r WHERE r.status = 'running' GROUP BY status`,
  );
  const hostRows = db.prepare<{ stale_before: number }, { hostname: string; last_seen_at: number; status: HostStatus }>(
    `SELECT h.hostname, h.last_seen_at, ${hostStatusSql('r')} AS status
     FROM hosts h LEFT JOIN runs r ON r.run_id = h.latest_run_id ORDER BY h.last_seen_at`,
  );
  const staleBefore = () => clock() - staleAfterMs;
  return {
    /** How many unfinished runs are running and how many stale. */
    unfinishedRuns: () => runCounts.all({ stale_before: staleBefore() }),
    /** Every host's name, last contact and status, oldest contact first. */
    hosts: () => hostRows.all({ stale_before: staleBefore() }),
  };
}

export type GaugeStore = ReturnType<typeof createGaugeStore>;
