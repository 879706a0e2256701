/** Run and host status rules, in one place so the API, metrics and waiters agree. */
import type { RunFinishedEvent } from '../protocol/events.js';

export const runStatuses = ['running', 'succeeded', 'failed', 'stale'] as const;
export type RunStatus = (typeof runStatuses)[number];
export const hostStatuses = [...runStatuses, 'never-reported'] as const;
export type HostStatus = (typeof hostStatuses)[number];

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
