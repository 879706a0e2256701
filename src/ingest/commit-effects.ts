/**
 * What follows a write, in one place: counting it in the metrics, waking the long-polls of hosts
 * whose run finished, and telling live views which hosts changed. Also the rest of POST /webhook's
 * metrics (refusals and answer time), so a delivery's metrics are all counted here.
 */
import type { EventEmitter } from 'node:events';
import type { AppError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import { runStatusFromFinish } from '../protocol/status.js';
import type { CloudInitReport } from '../store/ingest-store.js';
import type { Committed, GroupCommitOptions } from './group-commit.js';
import type { Waiters } from './waiters.js';

/** The emitter live views listen on: the ids of hosts whose data changed. */
export type Changes = EventEmitter<{ change: [hostIds: number[]] }>;

export interface CommitEffectsDeps {
  metrics: Metrics;
  waiters: Waiters;
  changes: Changes;
}

export function createCommitEffects({ metrics, waiters, changes }: CommitEffectsDeps) {
  // Counted per kind and outcome first, then added once each: a labelled inc per event was a few
  // percent of a batch's cost.
  function count(committed: Committed[]): void {
    const byLabels = new Map<string, { kind: string; outcome: string; n: number }>();
    for (const c of committed) {
      c.items.forEach((item, i) => {
        const outcome = c.outcomes[i]!;
        const key = `${item.event.kind} ${outcome}`;
        const seen = byLabels.get(key);
        if (seen) seen.n += 1;
        else byLabels.set(key, { kind: item.event.kind, outcome, n: 1 });
        if (outcome !== 'stored') return;
        if (item.event.kind === 'run_started') metrics.runsStarted.inc();
        if (item.event.kind === 'run_finished') metrics.runsFinished.inc({ status: runStatusFromFinish(item.event.data) });
      });
    }
    for (const { kind, outcome, n } of byLabels.values()) metrics.events.inc({ kind, outcome }, n);
  }

  const eventsCommitted: GroupCommitOptions['onCommit'] = (committed, hosts) => {
    count(committed);
    for (const d of hosts.drift) if (d.added.corrective > 0) metrics.driftCorrections.inc({ host: d.hostname }, d.added.corrective);
    if (hosts.finishedHostIds.size > 0) waiters.notify(hosts.finishedHostIds);
    if (hosts.touchedHostIds.size > 0) changes.emit('change', [...hosts.touchedHostIds]);
  };

  return {
    /** After a group of deliveries committed (the group committer's onCommit). */
    eventsCommitted,

    /** After a cloud-init report committed for this host; a FAIL may answer a long-poll (boot-failed). */
    cloudInitRecorded(report: Pick<CloudInitReport, 'source' | 'result'>, hostId: number): void {
      metrics.cloudInit.inc({ source: report.source });
      changes.emit('change', [hostId]);
      if (report.result === 'FAIL') waiters.notify([hostId]);
    },

    /** After the expected fleet changed (PUT /fleet, Proxmox discovery): fleet waits look again. */
    fleetChanged(): void {
      changes.emit('change', []);
    },

    /** A delivery to POST /webhook was refused; counted when the error has a reject reason. */
    deliveryRefused(err: AppError): void {
      if (err.reason) metrics.rejected.inc({ reason: err.reason });
    },

    /** A POST /webhook was answered after this many milliseconds, commit included. */
    deliveryAnswered(ms: number): void {
      metrics.ingestDuration.observe(ms / 1000);
    },
  };
}

export type CommitEffects = ReturnType<typeof createCommitEffects>;
