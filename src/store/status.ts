/** Run and host status rules, in one place so the API, pages, metrics and waiters agree. */
import type { RunFinishedEvent } from '../protocol/events.js';

export const runStatuses = ['running', 'succeeded', 'failed', 'stale'] as const;
export type RunStatus = (typeof runStatuses)[number];

/**
 * A host's status. Beside its latest run's: `never-reported` (known, nothing to show yet; an
 * expected VM within its grace), `missing` (expected, silent past the grace), `booting` (cloud-init
 * reports, no run yet), `boot-failed` (cloud-init reported FAIL, nothing after it), `pull-failed`
 * (the newest check-in says ansible-pull could not get or start the playbook), `checked-in` (a
 * check-in found nothing to do and no run is on record), `out-of-sync` (periodic pulls stopped
 * checking in), `stopped` (Proxmox says powered off).
 */
export const hostStatuses = [
  ...runStatuses,
  'never-reported',
  'missing',
  'booting',
  'boot-failed',
  'pull-failed',
  'checked-in',
  'out-of-sync',
  'stopped',
] as const;
export type HostStatus = (typeof hostStatuses)[number];

/** Statuses that answer a CI wait with a failure. */
export const failedHostStatuses: readonly HostStatus[] = ['failed', 'boot-failed', 'pull-failed', 'missing', 'stopped'];
/** Statuses that answer a CI wait with success. */
export const okHostStatuses: readonly HostStatus[] = ['succeeded', 'checked-in'];

/** A finished run failed if the plugin says so, ansible-pull exited non-zero, or any host failed. */
export function runStatusFromFinish(data: RunFinishedEvent['data']): 'succeeded' | 'failed' {
  if (data.result === 'failed') return 'failed';
  if (data.exit_code !== undefined && data.exit_code !== 0) return 'failed';
  const hostFailed = Object.values(data.stats).some((s) => s.failed > 0 || s.unreachable > 0);
  return hostFailed ? 'failed' : 'succeeded';
}

/**
 * Stale is not stored: a running run with no event for the timeout is stale until it speaks again.
 * The rule as SQL, with @stale_before (now minus the timeout) bound by the caller.
 */
export const effectiveStatusSql = (alias: string) =>
  `CASE WHEN ${alias}.status = 'running' AND ${alias}.last_event_at < @stale_before THEN 'stale' ELSE ${alias}.status END`;

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
    WHEN ${hasRun} THEN ${effectiveStatusSql('r')}
    WHEN ${checkinAt} IS NOT NULL THEN 'checked-in'
    ELSE 'booting'
  END`;
}
