/** What route plugins share: built once per app in buildApp, passed as plugin options. */
import type { Config } from './config.js';
import type { Changes, CommitEffects } from './ingest/commit-effects.js';
import type { GroupCommitter } from './ingest/group-commit.js';
import type { Waiters } from './ingest/waiters.js';
import type { Metrics } from './metrics.js';
import type { HealthStore } from './store/health-store.js';
import type { IngestStore } from './store/ingest-store.js';
import type { QueryStore } from './store/query-store.js';
import type { HistoryStore } from './store/history-store.js';
import type { FleetStore } from './store/fleet-store.js';
import type { FleetView } from './fleet/fleet-view.js';
import type { Pacer } from './ingest/pacing.js';

export interface AppContext {
  config: Config;
  ingest: IngestStore;
  health: HealthStore;
  query: QueryStore;
  /** Changes, run comparisons and task figures across the fleet. */
  history: HistoryStore;
  fleet: FleetStore;
  fleetView: FleetView;
  committer: GroupCommitter;
  waiters: Waiters;
  metrics: Metrics;
  clock: () => number;
  /**
   * Emits 'change' with the ids of hosts whose data changed, after each commit (ingest and
   * cloud-init). For live views; listeners must be cheap and never throw.
   */
  changes: Changes;
  /** Metrics, waiters and live changes after each write (src/ingest/commit-effects.ts). */
  effects: CommitEffects;
  /** How long senders should gather events before their next delivery (src/ingest/pacing.ts). */
  pacer: Pacer;
  /** Set when the app starts closing: long-polls answer and new work is refused. */
  closing: { value: boolean };
}

export interface RouteOptions {
  ctx: AppContext;
}
