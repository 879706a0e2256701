/**
 * Prometheus metrics on a registry owned by one app instance (never the global one).
 * Labels come from fixed sets or host names; never from raw URLs or payload values.
 */
import { statSync } from 'node:fs';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CheckpointObserver } from './db/checkpointer.js';
import type { Pacer } from './ingest/pacing.js';
import { hostStatuses, runOutcomes, type HostStatus } from './protocol/status.js';
import type { GaugeStore } from './store/gauge-store.js';
import { createRequestTally } from './request-tally.js';

/** Numeric code of a host's last run status, one series per host (see README, Metrics). */
const hostStatusCode: Record<HostStatus, number> = {
  succeeded: 0,
  failed: 1,
  running: 2,
  stale: 3,
  'never-reported': 4,
  missing: 5,
  booting: 6,
  'boot-failed': 7,
  'pull-failed': 8,
  'checked-in': 9,
  'out-of-sync': 10,
  stopped: 11,
};

export interface MetricsOptions {
  /** Where the gauges read runs and hosts at scrape time. */
  gauges: GaugeStore;
  dbPath: string;
  /** Number of long-polls waiting right now. */
  waiting?: () => number;
  /** The pacing advice and the senders it counts. */
  pacer?: Pick<Pacer, 'active' | 'lingerMs'>;
}

export function createMetrics({ gauges, dbPath, waiting = () => 0, pacer }: MetricsOptions) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // prom-client names these gauges with a counter's _total suffix, which promtool rightly flags.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
    registry.removeSingleMetric(name);
  }

  const events = new Counter({
    name: 'webhook_events_received_total',
    help: 'Events received, by kind and outcome (stored, duplicate).',
    labelNames: ['kind', 'outcome'] as const,
    registers: [registry],
  });
  const runsStarted = new Counter({
    name: 'webhook_runs_started_total',
    help: 'Runs whose run_started event was stored.',
    registers: [registry],
  });
  const runsFinished = new Counter({
    name: 'webhook_runs_finished_total',
    help: 'Runs whose run_finished event was stored, by outcome.',
    labelNames: ['status'] as const,
    registers: [registry],
  });
  // Labelled by host, as the per-host gauges are: the alert names the VM that keeps drifting.
  const driftCorrections = new Counter({
    name: 'webhook_drift_corrections_total',
    help: 'Corrective changes (a task put back what changed out of band, on the same commit), by host.',
    labelNames: ['host'] as const,
    registers: [registry],
  });
  const rejected = new Counter({
    name: 'webhook_deliveries_rejected_total',
    help: 'Deliveries to POST /webhook refused, by reason.',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const cloudInit = new Counter({
    name: 'webhook_cloud_init_reports_total',
    help: 'cloud-init reports received, by source (reporting, phone_home).',
    labelNames: ['source'] as const,
    registers: [registry],
  });
  const ingestDuration = new Histogram({
    name: 'webhook_ingest_duration_seconds',
    help: 'Time from receiving a POST /webhook to answering it, including the commit.',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [registry],
  });
  // Against webhook_http_requests_total it shows whether senders keep their connections alive.
  const connections = new Counter({
    name: 'webhook_connections_accepted_total',
    help: 'TCP connections accepted by the HTTP server.',
    registers: [registry],
  });
  // Counted by the routes as plain numbers (src/request-tally.ts), added here when scraped.
  const requests = createRequestTally();
  new Counter({
    name: 'webhook_http_requests_total',
    help: 'HTTP requests answered, by route template, method and status class.',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [registry],
    collect() {
      requests.drain((labels, n) => this.inc(labels, n));
    },
  });

  new Gauge({
    name: 'webhook_runs',
    help: 'Runs not yet finished, by status (running, stale).',
    labelNames: ['status'] as const,
    registers: [registry],
    collect() {
      this.reset();
      this.set({ status: 'running' }, 0);
      this.set({ status: 'stale' }, 0);
      for (const r of gauges.unfinishedRuns()) this.set({ status: r.status }, r.n);
    },
  });

  // The three per-host families are filled from one query at scrape time, so a pruned host's
  // series disappear with it and nothing has to be kept in step by hand.
  const hostsByStatus = new Gauge({
    name: 'webhook_hosts',
    help: 'Known hosts, by status (see webhook_host_last_run_status for the list).',
    labelNames: ['status'] as const,
    registers: [registry],
    // Registered first of the three, so its collect fills all three before any is serialised.
    collect: () => fillHostSeries(),
  });
  const lastReport = new Gauge({
    name: 'webhook_host_last_report_timestamp_seconds',
    help: 'Unix time the receiver last heard from the host.',
    labelNames: ['host'] as const,
    registers: [registry],
  });
  const lastRunStatus = new Gauge({
    name: 'webhook_host_last_run_status',
    help:
      'Status of the host: 0 succeeded, 1 failed, 2 running, 3 stale, 4 never reported, 5 missing, 6 booting, ' +
      '7 boot failed, 8 pull failed, 9 checked in, 10 out of sync, 11 stopped.',
    labelNames: ['host'] as const,
    registers: [registry],
  });

  function fillHostSeries(): void {
    hostsByStatus.reset();
    lastReport.reset();
    lastRunStatus.reset();
    const counts = Object.fromEntries(hostStatuses.map((s) => [s, 0])) as Record<HostStatus, number>;
    // Ordered by when each host was last seen, so when two hosts share a hostname the newest one wins the series.
    for (const h of gauges.hosts()) {
      counts[h.status] += 1;
      // A placeholder has never reported: no last-report time to show.
      if (h.placeholder === 0) lastReport.set({ host: h.hostname }, h.last_seen_at / 1000);
      lastRunStatus.set({ host: h.hostname }, hostStatusCode[h.status]);
    }
    for (const s of hostStatuses) hostsByStatus.set({ status: s }, counts[s]);
  }

  new Gauge({
    name: 'webhook_fleet_expected_hosts',
    help: 'Expected VMs (PUT /fleet and Proxmox discovery), by status.',
    labelNames: ['status'] as const,
    registers: [registry],
    collect() {
      const counts = Object.fromEntries(hostStatuses.map((s) => [s, 0])) as Record<HostStatus, number>;
      for (const vm of gauges.expected()) counts[vm.status] += 1;
      for (const s of hostStatuses) this.set({ status: s }, counts[s]);
    },
  });

  new Gauge({
    name: 'webhook_hosts_latest_outcome',
    help: 'Hosts by the outcome of their latest finished run (changed, unchanged, pending).',
    labelNames: ['outcome'] as const,
    registers: [registry],
    collect() {
      for (const o of runOutcomes) this.set({ outcome: o }, 0);
      for (const r of gauges.latestOutcomes()) this.set({ outcome: r.outcome }, r.n);
    },
  });

  new Gauge({
    name: 'webhook_waiters',
    help: 'Long-polls (GET /hosts/:host/wait) waiting for a run to finish.',
    registers: [registry],
    collect() {
      this.set(waiting());
    },
  });

  new Gauge({
    name: 'webhook_pacing_senders',
    help: 'Sources that delivered within the pacing window: the fleet the pacing advice is spread over.',
    registers: [registry],
    collect() {
      this.set(pacer?.active() ?? 0);
    },
  });

  new Gauge({
    name: 'webhook_pacing_linger_seconds',
    help: 'How long the receiver asks senders to gather events before their next delivery; 0 when it has room.',
    registers: [registry],
    collect() {
      this.set((pacer?.lingerMs() ?? 0) / 1000);
    },
  });

  new Gauge({
    name: 'webhook_database_size_bytes',
    help: 'Size of the SQLite database file and its write-ahead log.',
    registers: [registry],
    collect() {
      this.set(dbPath === ':memory:' ? 0 : fileSize(dbPath) + fileSize(`${dbPath}-wal`));
    },
  });

  return {
    registry,
    events,
    runsStarted,
    runsFinished,
    driftCorrections,
    rejected,
    cloudInit,
    ingestDuration,
    requests,
    connections,
    walCheckpoints: walCheckpointMetrics(registry, dbPath),
  };
}

/** The checkpointer thread's work (src/db/checkpointer.ts), and the WAL it keeps small. */
function walCheckpointMetrics(registry: Registry, dbPath: string): CheckpointObserver {
  const runs = new Counter({
    name: 'webhook_wal_checkpoints_total',
    help: 'WAL checkpoints the checkpointer thread ran that moved frames or reset the log, by mode (passive, restart, truncate).',
    labelNames: ['mode'] as const,
    registers: [registry],
  });
  const frames = new Counter({
    name: 'webhook_wal_checkpointed_frames_total',
    help: 'WAL frames (committed page versions) the checkpointer thread moved into the database file.',
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'webhook_wal_checkpoint_duration_seconds',
    help: 'Time one checkpoint took on the checkpointer thread; the event loop does not wait for it.',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const failures = new Counter({
    name: 'webhook_wal_checkpointer_failures_total',
    help: 'Times the checkpointer thread died; SQLite checkpoints on the main thread until it is started again.',
    registers: [registry],
  });
  new Gauge({
    name: 'webhook_wal_size_bytes',
    help: 'Size of the SQLite write-ahead log file.',
    registers: [registry],
    collect() {
      this.set(dbPath === ':memory:' ? 0 : fileSize(`${dbPath}-wal`));
    },
  });
  return {
    checkpointed: (r) => {
      runs.inc({ mode: r.mode.toLowerCase() });
      frames.inc(r.frames);
      duration.observe(r.durationMs / 1000);
    },
    workerFailed: () => failures.inc(),
  };
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

export type Metrics = ReturnType<typeof createMetrics>;
