/**
 * The derived statuses as SQL, so every query (API, pages, metrics) computes them the same way.
 * The status lists themselves live in src/protocol/status.ts.
 */

/**
 * Stale is not stored: a running run with no event for the timeout is stale until it speaks again.
 * The rule as SQL, with @stale_before (now minus the timeout) bound by the caller.
 */
export const runStatusSql = (run: string) =>
  `CASE WHEN ${run}.status = 'running' AND ${run}.last_event_at < @stale_before THEN 'stale' ELSE ${run}.status END`;

/**
 * A finished run's outcome (src/protocol/status.ts, runOutcomes) over `run` (runs). Evaluated once,
 * when its run_finished is stored, into runs.outcome; NULL while the run is unfinished.
 * (Migration 004 applies the same rule to runs finished before it.)
 */
export const runOutcomeSql = (run: string) =>
  `CASE WHEN ${run}.status NOT IN ('succeeded', 'failed') THEN NULL WHEN ${run}.tasks_changed = 0 THEN 'unchanged'
     WHEN ${run}.check_mode = 1 THEN 'pending' ELSE 'changed' END`;

/**
 * The host status rule as one SQL expression over `h` (hosts), `r` (its latest run, LEFT JOINed
 * on h.latest_run_id) and `e` (its expected_vms row, LEFT JOINed on e.host_id). Binds
 * @stale_before, @missing_before (now minus WEBHOOK_EXPECT_GRACE_SECONDS), @now and
 * @sync_grace_ms and @since (0 for all time): what was heard before it is ignored (runs by their
 * start on the VM's clock, as GET /hosts/:host/wait counts them; the rest by the receiver's clock).
 * Facts are compared by receiver time, newest first, so a new boot or pull failure outranks an
 * older run. A cloud-init FAIL that follows a failed run or pull is that failure's echo (the
 * wrapper's exit status fails cloud-init's script stage) and keeps its status.
 */
export function hostStatusSql(): string {
  const after = (col: string) => `CASE WHEN ${col} >= @since THEN ${col} END`;
  const hasRun = 'r.started_at >= @since';
  const runStatus = `CASE WHEN ${hasRun} THEN r.status END`;
  const runAt = `CASE WHEN ${hasRun} THEN r.last_event_at ELSE 0 END`;
  const checkinAt = after('h.last_checkin_at');
  const failedAt = after('h.cloud_init_failed_at');
  const bootAt = after('h.cloud_init_last_at');
  const expectedSince = 'max(e.expected_since, @since)';
  const pullFailed = `h.last_checkin_result IN ('pull_failed', 'start_failed')`;
  const heard = `(${hasRun} OR ${checkinAt} IS NOT NULL OR ${bootAt} IS NOT NULL)`;
  return `CASE
    WHEN e.power = 'stopped' THEN 'stopped'
    WHEN h.placeholder = 1 OR NOT ${heard} THEN
      CASE WHEN e.expected_since IS NOT NULL AND ${expectedSince} <= @missing_before THEN 'missing' ELSE 'never-reported' END
    WHEN ${pullFailed} AND ${checkinAt} >= ${runAt} THEN 'pull-failed'
    WHEN ${failedAt} >= ${runAt} AND ${failedAt} >= coalesce(${checkinAt}, 0)
      AND coalesce(${runStatus}, '') <> 'failed' THEN 'boot-failed'
    WHEN ${runStatus} = 'failed' THEN 'failed'
    WHEN h.checkin_interval_s IS NOT NULL
      AND h.last_checkin_at < @now - h.checkin_interval_s * 1000 - @sync_grace_ms THEN 'out-of-sync'
    WHEN ${hasRun} THEN ${runStatusSql('r')}
    WHEN ${checkinAt} IS NOT NULL THEN 'checked-in'
    ELSE 'booting'
  END`;
}

export interface StatusTimes {
  now: number;
  /** Ignore what was heard before this (ms); 0 for all time. */
  since?: number;
  staleAfterMs: number;
  expectGraceMs: number;
  outOfSyncGraceMs: number;
}

/** The named parameters hostStatusSql() binds. */
export function statusParams(t: StatusTimes) {
  return {
    now: t.now,
    stale_before: t.now - t.staleAfterMs,
    missing_before: t.now - t.expectGraceMs,
    sync_grace_ms: t.outOfSyncGraceMs,
    since: t.since ?? 0,
  };
}
export type StatusParams = ReturnType<typeof statusParams>;

/**
 * When a host was last heard from, over `h` (hosts) and `r` (its latest run, as STATUS_JOINS joins
 * it). A delivery to the host's latest run from the address it last used writes only that run
 * (src/store/host-writer.ts): the run's last_event_at is then the newer time, and the host's row, a
 * page of its own in most commits, is left alone.
 */
export const hostLastSeenSql = (h: string, r: string) => `max(${h}.last_seen_at, coalesce(${r}.last_event_at, 0))`;

/** hostLastSeenSql() without the join, for lookups that pick the newest of a few hosts. */
export const hostLastSeenLookupSql = (h: string) =>
  `max(${h}.last_seen_at, coalesce((SELECT last_event_at FROM runs WHERE run_id = ${h}.latest_run_id), 0))`;

/** Joins hostStatusSql() needs, from `hosts h`. */
export const STATUS_JOINS = `LEFT JOIN runs r ON r.run_id = h.latest_run_id LEFT JOIN expected_vms e ON e.host_id = h.id`;
