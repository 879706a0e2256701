/**
 * Writes: turns protocol events into rows and keeps the derived run and host state current.
 * Each write is one transaction; a transient SQLite failure leaves as STORAGE_UNAVAILABLE. Work is aggregated per write: a host
 * is resolved once per identity and a run's counters are updated once, however many events the
 * write carries, so batches and grouped requests cost little more than their event rows.
 */
import type { Db } from '../db/database.js';
import {
  perTaskStatus,
  taskStatuses,
  type CheckinEvent,
  type EventOutcome,
  type TaskStatus,
  type WebhookEvent,
} from '../protocol/events.js';
import { DomainError } from '../errors.js';
import { createHostWriter, Trust, type PartialIdentity } from './host-writer.js';
import { runStatusFromFinish } from '../protocol/status.js';
import { mapStorageErrors } from './storage-errors.js';
import { hostLastSeenLookupSql } from './status-sql.js';
import { createDriftStore, type DriftSummary } from './drift-store.js';
import { createLiveTasks } from './live-tasks.js';
import { createStoredSeqs } from './stored-seqs.js';

export type { PartialIdentity } from './host-writer.js';

export interface IncomingEvent {
  event: WebhookEvent;
  address: string;
  receivedAt: number;
  /** Who vouched for the event's identity (the delivery's signature); none when absent. */
  trust?: Trust;
}

export interface ApplyResult {
  outcomes: EventOutcome[];
  /** Hosts whose run finished in this write, for long-poll waiters. */
  finishedHostIds: Set<number>;
  /** Hosts this write changed (duplicates change nothing), for live views. */
  touchedHostIds: Set<number>;
  /** Runs finished in this write with changed tasks, and what their classification added (src/store/drift-store.ts). */
  drift: DriftSummary[];
}

export interface CloudInitReport {
  source: 'reporting' | 'phone_home';
  name: string;
  event_type?: string | null;
  result?: string | null;
  description?: string | null;
  time: number;
}

/** What one write changes in one run, applied in a single UPDATE at the end. */
interface RunDelta {
  id: number;
  hostId: number;
  runId: string;
  minTime: number;
  lastEventAt: number;
  counts: Record<TaskStatus, number>;
  total: number;
  stored: number;
  touchesLatest: boolean;
  /** Its run_finished is in this write: classified once its counters are flushed. */
  finished: boolean;
}

const zeroCounts = (): Record<TaskStatus, number> => perTaskStatus(() => 0);

/** Whether two events name the host the same way: the events of a batch nearly always do. */
function sameIdentity(a: WebhookEvent['host'], b: WebhookEvent['host']): boolean {
  if (a === b) return true;
  if (a.hostname !== b.hostname || a.machine_id !== b.machine_id || a.instance_id !== b.instance_id || a.vmid !== b.vmid) return false;
  if (a.ips === b.ips) return true;
  if (a.ips === undefined || b.ips === undefined || a.ips.length !== b.ips.length) return false;
  return a.ips.every((ip, i) => ip === b.ips![i]);
}

/**
 * A lookup memoised for one write by identity, address and trust. The previous item's answer is
 * tried first, so a batch's events, which name their host alike, cost a field comparison each
 * instead of a JSON key.
 */
function memoByIdentity<T>(look: (item: IncomingEvent) => T, withAddress: boolean): (item: IncomingEvent) => T {
  const seen = new Map<string, T>();
  let last: { item: IncomingEvent; value: T } | undefined;
  return (item) => {
    if (
      last !== undefined &&
      (last.item.trust ?? Trust.none) === (item.trust ?? Trust.none) &&
      (!withAddress || last.item.address === item.address) &&
      sameIdentity(last.item.event.host, item.event.host)
    ) {
      return last.value;
    }
    const key = `${JSON.stringify(item.event.host)}\n${withAddress ? item.address : ''}\n${item.trust ?? Trust.none}`;
    let value: T;
    if (seen.has(key)) value = seen.get(key) as T;
    else {
      value = look(item);
      seen.set(key, value);
    }
    last = { item, value };
    return value;
  };
}

export function createIngestStore(db: Db) {
  const hosts = createHostWriter(db);
  const live = createLiveTasks();
  const seqs = createStoredSeqs();
  const drift = createDriftStore(db, live);
  // The runs of the write in progress: if it rolls back, what memory holds of them is forgotten.
  const runsInWrite: number[] = [];
  const insertRun = db.prepare(
    `INSERT INTO runs (run_id, host_id, status, started_at, last_event_at, source_address)
     VALUES (@run_id, @host_id, 'running', @time, @now, @address) ON CONFLICT (run_id) DO NOTHING`,
  );
  const runKey = db.prepare<[string], { id: number; host_id: number }>('SELECT id, host_id FROM runs WHERE run_id = ?');
  // An event is stored once per run, seq and id; the index holds only the run and seq (migrations/007),
  // so the check is a lookup of the run's few entries at that seq, not a unique constraint.
  const eventStored = db.prepare<[number, number, string], { 1: number }>(
    'SELECT 1 FROM events WHERE run = ? AND seq = ? AND event_id = ?',
  );
  const insertEvent = db.prepare('INSERT INTO events (event_id, run, seq, kind, time, received_at, data) VALUES (?, ?, ?, ?, ?, ?, ?)');
  const applyDelta = db.prepare(
    `UPDATE runs SET last_event_at = max(last_event_at, @last),
       tasks_total = tasks_total + @total, ${taskStatuses.map((s) => `tasks_${s} = tasks_${s} + @${s}`).join(', ')}
     WHERE id = @id`,
  );
  // Apart, and only when it moves: setting started_at, even to its own value, rewrites both of the
  // runs' start-time indexes, a page or two in every commit.
  const earlierStart = db.prepare('UPDATE runs SET started_at = @min_time WHERE id = @id AND started_at > @min_time');
  const runStarted = db.prepare(
    `UPDATE runs SET playbook = @playbook, repo_url = @repo_url, commit_sha = @commit,
       ansible_version = @ansible_version, check_mode = @check_mode, started_at = @time
     WHERE id = @id`,
  );
  const runFinished = db.prepare(
    `UPDATE runs SET status = @status, finished_at = @time, result = @result, exit_code = @exit_code,
       duration_ms = @duration_ms, stats = @stats
     WHERE id = @id`,
  );
  // The latest run is the one that started last; a late delivery of an older run does not displace it.
  // The run it displaces leaves its last event in last_seen_at, which counts the latest run's (src/store/status-sql.ts).
  const setLatestRun = db.prepare(
    `UPDATE hosts SET latest_run_id = @run_id, last_seen_at = ${hostLastSeenLookupSql('hosts')}
     WHERE id = @host_id AND (latest_run_id IS NULL OR latest_run_id = @run_id OR
       coalesce((SELECT started_at FROM runs WHERE run_id = hosts.latest_run_id), 0)
         <= (SELECT started_at FROM runs WHERE id = @id))`,
  );
  const insertCloudInit = db.prepare(
    `INSERT INTO cloud_init_events (host_id, source, name, event_type, result, description, time, received_at)
     VALUES (@host_id, @source, @name, @event_type, @result, @description, @time, @now)`,
  );

  const checkinExists = db.prepare<[string], { 1: number }>('SELECT 1 FROM checkins WHERE event_id = ?');
  const insertCheckin = db.prepare(
    `INSERT INTO checkins (event_id, host_id, run_id, result, exit_code, commit_before, commit_after, duration_ms,
       interval_seconds, repo_url, playbook, error, time, received_at)
     VALUES (@event_id, @host_id, @run_id, @result, @exit_code, @commit_before, @commit_after, @duration_ms,
       @interval_seconds, @repo_url, @playbook, @error, @time, @now) ON CONFLICT (event_id) DO NOTHING`,
  );
  // A late redelivery of an older check-in must not replace the newest one.
  const setLatestCheckin = db.prepare(
    `UPDATE hosts SET last_checkin_id = @event_id, last_checkin_at = @now, checkin_interval_s = @interval,
       last_checkin_result = @result
     WHERE id = @host_id AND (last_checkin_at IS NULL OR last_checkin_at <= @now)`,
  );
  const noteCloudInit = db.prepare(
    `UPDATE hosts SET cloud_init_last_at = max(coalesce(cloud_init_last_at, 0), @now),
       cloud_init_failed_at = CASE WHEN @failed THEN @now ELSE cloud_init_failed_at END,
       -- A stage's FAIL follows its failed sub-stage's: keep the more specific name.
       cloud_init_failed_name = CASE WHEN NOT @failed THEN cloud_init_failed_name
         WHEN substr(coalesce(cloud_init_failed_name, ''), 1, length(@name) + 1) = @name || '/' THEN cloud_init_failed_name
         ELSE @name END
     WHERE id = @id`,
  );

  /** Stores a check-in: it belongs to its host, not to a run (the playbook may never have started). */
  function applyCheckin(e: CheckinEvent, hostId: number, time: number, receivedAt: number): void {
    const d = e.data;
    insertCheckin.run({
      event_id: e.event_id,
      host_id: hostId,
      run_id: e.run_id,
      result: d.result,
      exit_code: d.exit_code,
      commit_before: d.commit_before ?? null,
      commit_after: d.commit_after ?? null,
      duration_ms: d.duration_ms,
      interval_seconds: d.interval_seconds ?? null,
      repo_url: d.repo_url ?? null,
      playbook: d.playbook ?? null,
      error: d.error ?? null,
      time,
      now: receivedAt,
    });
    setLatestCheckin.run({
      event_id: e.event_id,
      host_id: hostId,
      now: receivedAt,
      interval: d.interval_seconds || null,
      result: d.result,
    });
  }

  const delta = (key: { id: number; host_id: number }, runId: string, created: boolean): RunDelta => ({
    id: key.id,
    hostId: key.host_id,
    runId,
    minTime: Number.MAX_SAFE_INTEGER,
    lastEventAt: 0,
    counts: zeroCounts(),
    total: 0,
    stored: 0,
    touchesLatest: created,
    finished: false,
  });

  function applyKind(e: Exclude<WebhookEvent, CheckinEvent>, run: RunDelta, time: number, finished: Set<number>): void {
    if (e.kind === 'task_result') {
      run.counts[e.data.status] += 1;
      run.total += 1;
      live.add(run.id, e.seq, time, e.data.play, e.data.task, e.data.status === 'changed');
    } else if (e.kind === 'run_started') {
      const d = e.data;
      runStarted.run({
        id: run.id,
        playbook: d.playbook,
        repo_url: d.repo_url ?? null,
        commit: d.commit ?? null,
        ansible_version: d.ansible_version,
        check_mode: d.check_mode ? 1 : 0,
        time,
      });
      run.touchesLatest = true;
    } else {
      const d = e.data;
      runFinished.run({
        id: run.id,
        status: runStatusFromFinish(d),
        time,
        result: d.result,
        exit_code: d.exit_code ?? null,
        duration_ms: d.duration_ms,
        stats: JSON.stringify(d.stats),
      });
      run.touchesLatest = true;
      run.finished = true;
      finished.add(run.hostId);
    }
  }

  function flushRun(run: RunDelta): DriftSummary | undefined {
    if (run.stored === 0) return undefined;
    applyDelta.run({ id: run.id, last: run.lastEventAt, total: run.total, ...run.counts });
    earlierStart.run({ id: run.id, min_time: run.minTime });
    if (run.touchesLatest) setLatestRun.run({ run_id: run.runId, host_id: run.hostId, id: run.id });
    if (!run.finished) return undefined;
    const summary = drift.classifyRun(run.id, run.lastEventAt);
    live.forget(run.id);
    return summary;
  }

  /** Stores events; runs inside a transaction. A duplicate touches nothing, not even its host. */
  function applyEvents(items: IncomingEvent[]): ApplyResult {
    hosts.beginWrite();
    const finishedHostIds = new Set<number>();
    const touchedHostIds = new Set<number>();
    const runs = new Map<string, RunDelta>();
    const hostOf = memoByIdentity((item) => {
      const e = item.event;
      const run = e.kind === 'checkin' ? undefined : e.run_id;
      const id = hosts.resolve(e.host, item.address, item.receivedAt, item.trust ?? Trust.none, run);
      touchedHostIds.add(id);
      return id;
    }, true);
    // Read-only: checking a run's owner must not touch a host, since the event may be a duplicate.
    const ownerOf = memoByIdentity((item) => hosts.peek(item.event.host, item.trust ?? Trust.none), false);
    const outcomes = items.map((item): EventOutcome => {
      const e = item.event;
      const time = Date.parse(e.time);
      if (e.kind === 'checkin') {
        // Looked up first, so a redelivered check-in touches nothing, not even its host.
        if (checkinExists.get(e.event_id)) return 'duplicate';
        const hostId = hostOf(item);
        applyCheckin(e, hostId, time, item.receivedAt);
        // Waiters look again: a failed pull is an answer, even with no run.
        finishedHostIds.add(hostId);
        return 'stored';
      }
      let run = runs.get(e.run_id);
      if (run === undefined) {
        const existing = runKey.get(e.run_id);
        // A run belongs to the host that started it: another host's events for it are refused.
        if (existing && existing.host_id !== ownerOf(item)) {
          throw new DomainError(
            'RUN_OWNED_BY_OTHER_HOST',
            `run ${e.run_id} belongs to another host; events for it from ${JSON.stringify(e.host.hostname)} are refused`,
          );
        }
        if (existing) run = delta(existing, e.run_id, false);
        else {
          insertRun.run({ run_id: e.run_id, host_id: hostOf(item), time, now: item.receivedAt, address: item.address });
          run = delta(runKey.get(e.run_id)!, e.run_id, true);
          live.begin(run.id);
          seqs.begin(run.id);
        }
        runs.set(e.run_id, run);
        runsInWrite.push(run.id);
      }
      // Stored already under this run, seq and id: a redelivery (a batch may even repeat an event).
      if (seqs.mayHold(run.id, e.seq) && eventStored.get(run.id, e.seq, e.event_id) !== undefined) return 'duplicate';
      insertEvent.run(e.event_id, run.id, e.seq, e.kind, time, item.receivedAt, JSON.stringify(e.data));
      seqs.stored(run.id, e.seq);
      hostOf(item);
      run.stored += 1;
      run.minTime = Math.min(run.minTime, time);
      run.lastEventAt = Math.max(run.lastEventAt, item.receivedAt);
      applyKind(e, run, time, finishedHostIds);
      return 'stored';
    });
    const classified: DriftSummary[] = [];
    for (const run of runs.values()) {
      const d = flushRun(run);
      if (d) classified.push(d);
    }
    return { outcomes, finishedHostIds, touchedHostIds, drift: classified };
  }

  function applyCloudInit(
    vm: string,
    identity: PartialIdentity,
    report: CloudInitReport,
    address: string,
    now: number,
    trust: Trust = Trust.none,
  ): number {
    const id = hosts.resolveByName(vm, identity, address, now, trust);
    if (report.source === 'phone_home') hosts.register(id, now);
    insertCloudInit.run({
      host_id: id,
      source: report.source,
      name: report.name,
      event_type: report.event_type ?? null,
      result: report.result ?? null,
      description: report.description ?? null,
      time: report.time,
      now,
    });
    noteCloudInit.run({ id, now, failed: report.result === 'FAIL' ? 1 : 0, name: report.name });
    return id;
  }

  const writeEvents = db.transaction(applyEvents);
  const writeCloudInit = db.transaction(applyCloudInit);
  // The connection's busy timeout sleeps on the event loop while another connection holds the
  // write lock (the checkpointer's RESTART, a backup); without it a write fails at once with
  // SQLITE_BUSY, and the group committer tries again on a timer, the loop free meanwhile.
  // (A pragma statement takes effect when prepared, so db.pragma, not a prepared statement run again.)
  const waitMs = db.pragma('busy_timeout', { simple: true }) as number;
  const setBusyTimeout = (ms: number) => db.pragma(`busy_timeout = ${ms}`);

  return {
    /**
     * Stores the events of one or more deliveries in one transaction (see src/ingest/group-commit.ts).
     * `wait: false` fails at once with STORAGE_UNAVAILABLE (SQLITE_BUSY) when another connection
     * holds the write lock, instead of waiting for it on the event loop.
     */
    writeEvents(items: IncomingEvent[], { wait = true }: { wait?: boolean } = {}): ApplyResult {
      runsInWrite.length = 0;
      if (!wait) setBusyTimeout(0);
      try {
        return mapStorageErrors(() => writeEvents.immediate(items));
      } catch (err) {
        for (const id of runsInWrite) live.forget(id);
        throw err;
      } finally {
        if (!wait) setBusyTimeout(waitMs);
      }
    },

    /** Records a cloud-init report for the VM named in the URL, in its own transaction; creates the host if new. Returns the host id. */
    recordCloudInit(...args: Parameters<typeof applyCloudInit>): number {
      return mapStorageErrors(() => writeCloudInit.immediate(...args));
    },
  };
}

export type IngestStore = ReturnType<typeof createIngestStore>;
