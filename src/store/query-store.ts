/**
 * Reads for the query API, the pages and waiters. Statements are prepared once; rows are shaped
 * into the API schemas of src/protocol/api.ts here, so handlers only choose what to ask.
 */
import type { Db } from '../db/database.js';
import { HOST_RUNS_SHOWN } from '../protocol/api.js';
import type {
  CloudInitEvent,
  Fleet,
  HostDetail,
  HostsQuery,
  HostSummary,
  RunDetail,
  RunsPage,
  RunsQuery,
  RunSummary,
  TaskRow,
} from '../protocol/api.js';
import { DomainError } from '../errors.js';
import { createFleetJson } from './fleet-json.js';
import { perTaskStatus, taskStatuses, type TaskStatus } from '../protocol/events.js';
import { taskChanges, type HostStatus, type RunOutcome, type RunStatus, type TaskChange } from '../protocol/status.js';
import { taskOccurrences } from '../protocol/task-key.js';
import { isoTime } from '../protocol/time.js';
import { hostLastSeenLookupSql, hostLastSeenSql, hostStatusSql, runStatusSql, STATUS_JOINS, type StatusParams } from './status-sql.js';

/** A run row: its columns, one task counter per task status and one drift counter per classification. */
type RunRow = RunColumns & { [S in TaskStatus as `tasks_${S}`]: number } & { [C in TaskChange as `drift_${C}`]: number };

interface RunColumns {
  run_id: string;
  host_id: number;
  hostname: string;
  eff_status: RunStatus;
  started_at: number;
  finished_at: number | null;
  last_event_at: number;
  playbook: string | null;
  repo_url: string | null;
  commit_sha: string | null;
  ansible_version: string | null;
  check_mode: number | null;
  result: string | null;
  exit_code: number | null;
  duration_ms: number | null;
  stats: string | null;
  tasks_total: number;
  outcome: RunOutcome | null;
  source_address: string | null;
}

interface HostRow {
  id: number;
  hostname: string;
  machine_id: string | null;
  instance_id: string | null;
  vmid: number | null;
  ips: string;
  first_seen_at: number;
  last_seen_at: number;
  last_address: string | null;
  registered_at: number | null;
  host_status: HostStatus;
  last_corrective_at: number | null;
}

/** The host's drift totals, aliased apart from its latest run's. */
type HostDriftRow = { [C in TaskChange as `host_drift_${C}`]: number };

/** A host row joined with its latest run's columns (all null when it has none); names do not clash. */
type HostWithRun = HostRow & HostDriftRow & { [K in keyof RunRow]: RunRow[K] | null };

interface TaskEventRow {
  seq: number;
  time: number;
  data: string;
  change: TaskChange | null;
}

const iso = isoTime;
const isoOrNull = (ms: number | null) => (ms === null ? null : iso(ms));

const RUN_COLUMNS = `r.run_id, r.host_id, h.hostname, ${runStatusSql('r')} AS eff_status, r.started_at,
  r.finished_at, r.last_event_at, r.playbook, r.repo_url, r.commit_sha, r.ansible_version, r.check_mode, r.result,
  r.exit_code, r.duration_ms, r.stats, r.tasks_total, ${taskStatuses.map((s) => `r.tasks_${s}`).join(', ')}, r.outcome,
  ${taskChanges.map((c) => `r.drift_${c}`).join(', ')}, r.source_address`;

/** Needs STATUS_JOINS (the host's latest run as `r`, its expected VM as `e`), for its status. */
const HOST_COLUMNS = `h.id, h.hostname, h.machine_id, h.instance_id, h.vmid, h.ips, h.first_seen_at, ${hostLastSeenSql('h', 'r')} AS last_seen_at,
  h.last_address, h.registered_at, ${hostStatusSql()} AS host_status, h.last_corrective_at,
  ${taskChanges.map((c) => `h.drift_${c} AS host_drift_${c}`).join(', ')}`;

const driftCounts = (value: (c: TaskChange) => number) =>
  Object.fromEntries(taskChanges.map((c) => [c, value(c)])) as Record<TaskChange, number>;

function toRunSummary(r: RunRow): RunSummary {
  return {
    run_id: r.run_id,
    host_id: r.host_id,
    hostname: r.hostname,
    status: r.eff_status,
    started_at: iso(r.started_at),
    finished_at: isoOrNull(r.finished_at),
    last_event_at: iso(r.last_event_at),
    playbook: r.playbook,
    repo_url: r.repo_url,
    commit: r.commit_sha,
    ansible_version: r.ansible_version,
    check_mode: r.check_mode === null ? null : r.check_mode === 1,
    result: r.result,
    exit_code: r.exit_code,
    duration_ms: r.duration_ms,
    stats: r.stats === null ? null : (JSON.parse(r.stats) as RunSummary['stats']),
    tasks: { total: r.tasks_total, ...perTaskStatus((s) => r[`tasks_${s}`]) },
    outcome: r.outcome,
    drift: driftCounts((c) => r[`drift_${c}`]),
    source_address: r.source_address,
  };
}

function toHostSummary(h: HostWithRun): HostSummary {
  const run = h.run_id === null ? null : toRunSummary(h as RunRow);
  return {
    id: h.id,
    hostname: h.hostname,
    machine_id: h.machine_id,
    instance_id: h.instance_id,
    vmid: h.vmid,
    ips: JSON.parse(h.ips) as string[],
    status: h.host_status,
    first_seen_at: iso(h.first_seen_at),
    last_seen_at: iso(h.last_seen_at),
    last_address: h.last_address,
    registered_at: isoOrNull(h.registered_at),
    drift: { ...driftCounts((c) => h[`host_drift_${c}`]), last_corrective_at: isoOrNull(h.last_corrective_at) },
    latest_run: run,
  };
}

/** Opaque cursor: the sort key of the last row of a page. */
function encodeCursor(r: RunRow): string {
  return Buffer.from(`${r.started_at}:${r.run_id}`).toString('base64url');
}

function decodeCursor(cursor: string): { started_at: number; run_id: string } {
  const [ms, id] = Buffer.from(cursor, 'base64url').toString().split(':');
  const started = Number(ms);
  if (!Number.isSafeInteger(started) || id === undefined || !/^[0-9a-f-]{36}$/.test(id)) {
    throw new DomainError('BAD_CURSOR', 'cursor: not a cursor this API handed out');
  }
  return { started_at: started, run_id: id };
}

export function createQueryStore(db: Db, params: () => StatusParams) {
  const staleBefore = () => params().stale_before;
  const fleetJson = createFleetJson(db, params);

  const findByIdentity = db.prepare<{ v: string; n: number | null }, { id: number }>(
    `SELECT id FROM hosts WHERE hostname = @v OR machine_id = @v OR instance_id = @v OR vmid = @n
     ORDER BY ${hostLastSeenLookupSql('hosts')} DESC LIMIT 1`,
  );
  const findByIp = db.prepare<[string], { id: number; hostname: string; last_address: string | null }>(
    `SELECT h.id, h.hostname, h.last_address FROM host_ips i JOIN hosts h ON h.id = i.host_id WHERE i.ip = ?
     ORDER BY h.hostname`,
  );
  const hostWithRun = `SELECT ${HOST_COLUMNS}, ${RUN_COLUMNS} FROM hosts h ${STATUS_JOINS}`;
  const hostById = db.prepare<StatusParams & { id: number }, HostWithRun>(`${hostWithRun} WHERE h.id = @id`);
  const runById = db.prepare<{ id: string; stale_before: number }, RunRow>(
    `SELECT ${RUN_COLUMNS} FROM runs r JOIN hosts h ON h.id = r.host_id WHERE r.run_id = @id`,
  );
  const tasksOfRun = db.prepare<[string], TaskEventRow>(
    `SELECT e.seq, e.time, e.data, c.change FROM events e LEFT JOIN task_changes c ON c.run = e.run AND c.seq = e.seq
     WHERE e.run = (SELECT id FROM runs WHERE run_id = ?) AND e.kind = 'task_result'
     ORDER BY e.seq, e.received_at`,
  );
  const runsOfHost = db.prepare<{ host_id: number; stale_before: number; limit: number }, RunRow>(
    `SELECT ${RUN_COLUMNS} FROM runs r JOIN hosts h ON h.id = r.host_id
     WHERE r.host_id = @host_id ORDER BY r.started_at DESC, r.run_id DESC LIMIT @limit`,
  );
  const latestRunSince = db.prepare<{ host_id: number; since: number; stale_before: number }, RunRow>(
    `SELECT ${RUN_COLUMNS} FROM runs r JOIN hosts h ON h.id = r.host_id
     WHERE r.host_id = @host_id AND r.started_at >= @since ORDER BY r.started_at DESC, r.run_id DESC LIMIT 1`,
  );
  const cloudInitOfHost = db.prepare<
    [number],
    {
      source: CloudInitEvent['source'];
      name: string;
      event_type: string | null;
      result: string | null;
      description: string | null;
      time: number;
      received_at: number;
    }
  >(
    `SELECT source, name, event_type, result, description, time, received_at FROM cloud_init_events
     WHERE host_id = ? ORDER BY time DESC, id DESC LIMIT 200`,
  );
  // Optional filters cost little as residual predicates, but the host filter must pick the
  // (host_id, started_at) index, so it gets its own statement.
  type PageParams = {
    host_id: number | null;
    status: string | null;
    outcome: string | null;
    since: number | null;
    until: number | null;
    c_started: number | null;
    c_id: string | null;
    limit: number;
    stale_before: number;
  };
  const pageFilters = `(@since IS NULL OR r.started_at >= @since)
       AND (@until IS NULL OR r.started_at < @until)
       AND (@c_started IS NULL OR r.started_at < @c_started OR (r.started_at = @c_started AND r.run_id < @c_id))
       AND (@status IS NULL OR ${runStatusSql('r')} = @status)
       AND (@outcome IS NULL OR r.outcome = @outcome)`;
  const runsPage = db.prepare<PageParams, RunRow>(
    `SELECT ${RUN_COLUMNS} FROM runs r JOIN hosts h ON h.id = r.host_id
     WHERE @host_id IS NULL AND ${pageFilters} ORDER BY r.started_at DESC, r.run_id DESC LIMIT @limit`,
  );
  const runsPageOfHost = db.prepare<PageParams, RunRow>(
    `SELECT ${RUN_COLUMNS} FROM runs r JOIN hosts h ON h.id = r.host_id
     WHERE r.host_id = @host_id AND ${pageFilters} ORDER BY r.started_at DESC, r.run_id DESC LIMIT @limit`,
  );

  /**
   * A host by any identity. Hostname, machine-id, instance-id and VMID name one host; an IP
   * address may be listed by several (DHCP reuse, or a VM claiming another's address): then the
   * host whose latest delivery came from that address, else AMBIGUOUS_IDENTITY (docs/security.md).
   */
  function findHostId(identity: string): number | undefined {
    const n = /^\d{1,9}$/.test(identity) ? Number(identity) : null;
    const named = findByIdentity.get({ v: identity, n })?.id;
    if (named !== undefined) return named;
    const listed = findByIp.all(identity);
    if (listed.length <= 1) return listed[0]?.id;
    const from = listed.filter((h) => h.last_address === identity);
    if (from.length === 1) return from[0]!.id;
    const names = listed.map((h) => JSON.stringify(h.hostname)).join(', ');
    throw new DomainError(
      'AMBIGUOUS_IDENTITY',
      `${identity} is an address of several hosts (${names}); name the VM by hostname, machine-id or VMID`,
    );
  }

  function parseTask(row: TaskEventRow, occurrence: number): TaskRow {
    const d = JSON.parse(row.data) as Omit<TaskRow, 'seq' | 'time' | 'occurrence' | 'change'>;
    return {
      seq: row.seq,
      time: iso(row.time),
      play: d.play,
      task: d.task,
      action: d.action,
      target: d.target ?? null,
      status: d.status,
      duration_ms: d.duration_ms,
      message: d.message ?? null,
      no_log: d.no_log,
      occurrence,
      change: row.change,
    };
  }

  /** A run's task rows in order, each with its occurrence (the task key, src/protocol/task-key.ts). */
  function tasksOf(runId: string): TaskRow[] {
    const rows = tasksOfRun.all(runId);
    const plain = rows.map((r) => JSON.parse(r.data) as { play: string; task: string });
    const occ = taskOccurrences(plain);
    return rows.map((r, i) => parseTask(r, occ[i]!));
  }

  return {
    findHostId,

    /** GET /hosts as a JSON string, built by SQLite for large fleets (see fleet-json.ts). */
    fleetJson,

    /** The same fleet answer as objects, for the fleet page. */
    fleet(query: HostsQuery = {}): Fleet {
      return JSON.parse(fleetJson(query)) as Fleet;
    },

    hostById(id: number): HostSummary | undefined {
      const row = hostById.get({ ...params(), id });
      return row && toHostSummary(row);
    },

    hostDetail(identity: string): Omit<HostDetail, 'checkins' | 'expected_since' | 'summary' | 'next_step'> | undefined {
      const id = findHostId(identity);
      if (id === undefined) return undefined;
      const row = hostById.get({ ...params(), id });
      if (!row) return undefined;
      const runs = runsOfHost.all({ host_id: id, stale_before: staleBefore(), limit: HOST_RUNS_SHOWN }).map(toRunSummary);
      const cloudInit = cloudInitOfHost.all(id).map((c) => ({ ...c, time: iso(c.time), received_at: iso(c.received_at) }));
      return { ...toHostSummary(row), runs, cloud_init: cloudInit };
    },

    run(id: string): RunDetail | undefined {
      const row = runById.get({ id, stale_before: staleBefore() });
      if (!row) return undefined;
      return { ...toRunSummary(row), task_results: tasksOf(id) };
    },

    runs(query: RunsQuery): RunsPage {
      let hostId: number | null = null;
      if (query.host !== undefined) {
        const found = findHostId(query.host);
        if (found === undefined) return { runs: [], next_cursor: null };
        hostId = found;
      }
      const c = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
      const rows = (hostId === null ? runsPage : runsPageOfHost).all({
        host_id: hostId,
        status: query.status ?? null,
        outcome: query.outcome ?? null,
        since: query.since ?? null,
        until: query.until ?? null,
        c_started: c?.started_at ?? null,
        c_id: c?.run_id ?? null,
        limit: query.limit + 1,
        stale_before: staleBefore(),
      });
      const more = rows.length > query.limit;
      const page = more ? rows.slice(0, query.limit) : rows;
      return { runs: page.map(toRunSummary), next_cursor: more ? encodeCursor(page[page.length - 1]!) : null };
    },

    /** The host's latest run that started at or after `since`, in any status. */
    latestRunSince(hostId: number, since: number): RunSummary | undefined {
      const row = latestRunSince.get({ host_id: hostId, since, stale_before: staleBefore() });
      return row && toRunSummary(row);
    },
  };
}

export type QueryStore = ReturnType<typeof createQueryStore>;
