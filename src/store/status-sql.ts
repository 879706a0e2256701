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
 * The one host status rule, over a host joined with its latest run (`run` may be all NULL):
 * the latest run's status, else never-reported. New host statuses are added here.
 */
export const hostStatusSql = (run: string) => `coalesce(${runStatusSql(run)}, 'never-reported')`;
