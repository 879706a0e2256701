/**
 * The statuses the API speaks of, and the rule that turns a run's finish into one. Below the store,
 * so the protocol, the store, the metrics and the pages all take them from here.
 */
import type { RunFinishedEvent } from './events.js';

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

/** Whether a run status is final: a long-poll answers 200 on it. */
export const isFinished = (status: RunStatus): boolean => status === 'succeeded' || status === 'failed';

/**
 * What a finished run did, beside its status: `changed` (at least one task changed), `unchanged`,
 * or `pending` (a check-mode run that would change something). Derived by runOutcomeSql
 * (src/store/status-sql.ts) when the run's finish is stored.
 */
export const runOutcomes = ['changed', 'unchanged', 'pending'] as const;
export type RunOutcome = (typeof runOutcomes)[number];

/**
 * Why a task of a finished run changed (docs/drift.md): `intentional` (the commit differs from the
 * host's previous successful run), `repeated` (changed on the same commit in each of the host's
 * last three runs), `corrective` (same commit, and the task was ok in the previous successful run),
 * `other` (same commit, but the task was not ok then: it changed, failed, was skipped or absent).
 */
export const taskChanges = ['intentional', 'corrective', 'repeated', 'other'] as const;
export type TaskChange = (typeof taskChanges)[number];
