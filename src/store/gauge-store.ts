/** The reads behind the Prometheus gauges, computed at scrape time from the runs and hosts tables. */
import type { Db } from '../db/database.js';
import type { HostStatus, RunOutcome, RunStatus } from '../protocol/status.js';
import { hostLastSeenSql, hostStatusSql, runStatusSql, STATUS_JOINS, type StatusParams } from './status-sql.js';

export function createGaugeStore(db: Db, params: () => StatusParams) {
  const runCounts = db.prepare<{ stale_before: number }, { status: RunStatus; n: number }>(
    `SELECT ${runStatusSql('r')} AS status, count(*) AS n FROM runs r WHERE r.status = 'running' GROUP BY status`,
  );
  const hostRows = db.prepare<StatusParams, { hostname: string; last_seen_at: number; placeholder: number; status: HostStatus }>(
    `SELECT h.hostname, ${hostLastSeenSql('h', 'r')} AS last_seen_at, h.placeholder, ${hostStatusSql()} AS status
     FROM hosts h ${STATUS_JOINS} ORDER BY 2`,
  );
  // An expected VM whose host row is gone (retention) is still expected: counted by its own rule.
  const expectedRows = db.prepare<StatusParams, { status: HostStatus }>(
    `SELECT CASE WHEN h.id IS NULL THEN
       CASE WHEN e.power = 'stopped' THEN 'stopped' WHEN e.expected_since <= @missing_before THEN 'missing' ELSE 'never-reported' END
     ELSE ${hostStatusSql()} END AS status
     FROM expected_vms e LEFT JOIN hosts h ON h.id = e.host_id LEFT JOIN runs r ON r.run_id = h.latest_run_id`,
  );
  // runs.outcome is the stored result of runOutcomeSql: the same rule as the API's.
  const outcomeRows = db.prepare<[], { outcome: RunOutcome; n: number }>(
    `SELECT r.outcome, count(*) AS n FROM hosts h JOIN runs r ON r.run_id = h.latest_run_id
     WHERE r.outcome IS NOT NULL GROUP BY r.outcome`,
  );
  return {
    /** Hosts by the outcome of their latest run (finished runs only). */
    latestOutcomes: () => outcomeRows.all(),
    /** How many unfinished runs are running and how many stale. */
    unfinishedRuns: () => runCounts.all({ stale_before: params().stale_before }),
    /** Every host's name, last contact and status, oldest contact first. */
    hosts: () => hostRows.all(params()),
    /** The status of every expected VM. */
    expected: () => expectedRows.all(params()),
  };
}

export type GaugeStore = ReturnType<typeof createGaugeStore>;
