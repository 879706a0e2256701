/**
 * The statuses the API speaks of, and the rule that turns a run's finish into one. Below the store,
 * so the protocol, the store, the metrics and the pages all take them from here.
 */
import type { RunFinishedEvent } from './events.js';

export const runStatuses = ['running', 'succeeded', 'failed', 'stale'] as const;
export type RunStatus = (typeof runStatuses)[number];
/** A host's status: its latest run's, or never-reported when it is known only from cloud-init. */
export const hostStatuses = [...runStatuses, 'never-reported'] as const;
export type HostStatus = (typeof hostStatuses)[number];

/** A finished run failed if the plugin says so, ansible-pull exited non-zero, or any host failed. */
export function runStatusFromFinish(data: RunFinishedEvent['data']): 'succeeded' | 'failed' {
  if (data.result === 'failed') return 'failed';
  if (data.exit_code !== undefined && data.exit_code !== 0) return 'failed';
  const hostFailed = Object.values(data.stats).some((s) => s.failed > 0 || s.unreachable > 0);
  return hostFailed ? 'failed' : 'succeeded';
}

/** Whether a run status is final: a long-poll answers 200 on it. */
export const isFinished = (status: RunStatus): boolean => status === 'succeeded' || status === 'failed';
