/**
 * History reads: changed tasks across the fleet (GET /changes), one run compared with another
 * (GET /runs/:id/diff) and per-task figures across the fleet (GET /tasks). Task keys are
 * src/protocol/task-key.ts; classifications come from src/store/drift-store.ts.
 */
import type { Db } from '../db/database.js';
import { DomainError } from '../errors.js';
import type { TaskStatus } from '../protocol/events.js';
import type { ChangesPage, ChangesQuery, RunDiff, TasksAnswer, TasksQuery, TaskChangeRow } from '../protocol/history.js';
import type { TaskChange } from '../protocol/status.js';
import { taskKey, taskOccurrences } from '../protocol/task-key.js';
import { isoTime } from '../protocol/time.js';

interface ChangeRow {
  time: number;
  recorded_at: number;
  run: number;
  seq: number;
  host_id: number;
  hostname: string;
  run_id: string;
  commit_sha: string | null;
  task_key: string;
  action: string;
  duration_ms: number;
  change: TaskChange;
}

/** Where a page ended, in the list's order: the change's recording time, run and seq. */
interface Cursor {
  recorded_at: number;
  run: number;
  seq: number;
}

const encode = (c: Cursor) => Buffer.from(`${c.recorded_at}:${c.run}:${c.seq}`).toString('base64url');

function decode(cursor: string): Cursor {
  const parts = Buffer.from(cursor, 'base64url').toString().split(':').map(Number);
  if (parts.length !== 3 || !parts.every(Number.isSafeInteger))
    throw new DomainError('BAD_CURSOR', 'cursor: not a cursor this API handed out');
  const [recorded_at, run, seq] = parts as [number, number, number];
  return { recorded_at, run, seq };
}

function toChange(r: ChangeRow): TaskChangeRow {
  const [play, task, occurrence] = JSON.parse(r.task_key) as [string, string, number];
  return {
    time: isoTime(r.time),
    recorded_at: isoTime(r.recorded_at),
    host_id: r.host_id,
    hostname: r.hostname,
    run_id: r.run_id,
    commit: r.commit_sha,
    play,
    task,
    occurrence,
    action: r.action,
    change: r.change,
    duration_ms: r.duration_ms,
  };
}

interface RunRef {
  id: number;
  run_id: string;
  host_id: number;
  started_at: number;
  commit_sha: string | null;
}

/** A task result keyed for comparison: its key's parts and its status, in run order. */
interface KeyedResult {
  key: string;
  play: string;
  task: string;
  occurrence: number;
  status: TaskStatus;
}

export function createHistoryStore(db: Db) {
  type PageParams = {
    host_id: number | null;
    change: string | null;
    since: number | null;
    until: number | null;
    c_recorded: number | null;
    c_run: number | null;
    c_seq: number | null;
    limit: number;
  };
  const select = `SELECT c.time, c.recorded_at, c.run, c.seq, c.host_id, h.hostname, r.run_id, r.commit_sha, c.task_key, c.change,
       json_extract(e.data, '$.action') AS action, json_extract(e.data, '$.duration_ms') AS duration_ms
     FROM task_changes c JOIN runs r ON r.id = c.run JOIN hosts h ON h.id = c.host_id
     JOIN events e ON e.run = c.run AND e.seq = c.seq AND e.kind = 'task_result'`;
  // In the order the receiver recorded them (migrations/008_changes_by_arrival.sql), not by the
  // VMs' clocks: a VM cannot put its changes ahead of the others'.
  const filters = `(@since IS NULL OR c.recorded_at >= @since) AND (@until IS NULL OR c.recorded_at < @until)
       AND (@change IS NULL OR c.change = @change)
       AND (@c_recorded IS NULL OR c.recorded_at < @c_recorded
         OR (c.recorded_at = @c_recorded AND (c.run < @c_run OR (c.run = @c_run AND c.seq < @c_seq))))
     ORDER BY c.recorded_at DESC, c.run DESC, c.seq DESC LIMIT @limit`;
  // The host filter gets its own statement, so it picks the (host_id, recorded_at) index.
  const page = db.prepare<PageParams, ChangeRow>(`${select} WHERE @host_id IS NULL AND ${filters}`);
  const pageOfHost = db.prepare<PageParams, ChangeRow>(`${select} WHERE c.host_id = @host_id AND ${filters}`);

  const runRef = db.prepare<[string], RunRef>('SELECT id, run_id, host_id, started_at, commit_sha FROM runs WHERE run_id = ?');
  const previousRun = db.prepare<RunRef, RunRef>(
    `SELECT id, run_id, host_id, started_at, commit_sha FROM runs
     WHERE host_id = @host_id AND id <> @id AND (started_at < @started_at OR (started_at = @started_at AND run_id < @run_id))
     ORDER BY started_at DESC, run_id DESC LIMIT 1`,
  );
  const resultsOf = db.prepare<[number], { play: string; task: string; status: TaskStatus }>(
    `SELECT json_extract(data, '$.play') AS play, json_extract(data, '$.task') AS task, json_extract(data, '$.status') AS status
     FROM events WHERE run = ? AND kind = 'task_result' ORDER BY seq, received_at`,
  );

  // Task results of runs started in the window, each with its occurrence (row_number is the same
  // rule as taskOccurrences: per run, play and task name, in seq order).
  const keyed = `WITH t AS (
      SELECT e.run, r.run_id, r.host_id, e.seq, json_extract(e.data, '$.play') AS play, json_extract(e.data, '$.task') AS task,
        json_extract(e.data, '$.status') AS status, json_extract(e.data, '$.duration_ms') AS ms
      FROM runs r JOIN events e ON e.run = r.id AND e.kind = 'task_result'
      WHERE (@since IS NULL OR r.started_at >= @since) AND (@until IS NULL OR r.started_at < @until)
    ), k AS (SELECT *, row_number() OVER (PARTITION BY run, play, task ORDER BY seq) AS occurrence FROM t)`;
  type Window = { since: number | null; until: number | null };
  const taskStats = db.prepare<
    Window & { limit: number },
    {
      play: string;
      task: string;
      occurrence: number;
      results: number;
      ok: number;
      changed: number;
      failed: number;
      skipped: number;
      avg_ms: number;
    }
  >(
    `${keyed} SELECT play, task, occurrence, count(*) AS results, sum(status = 'ok') AS ok, sum(status = 'changed') AS changed,
       sum(status IN ('failed', 'unreachable')) AS failed, sum(status = 'skipped') AS skipped, avg(ms) AS avg_ms
     FROM k GROUP BY play, task, occurrence ORDER BY changed + failed DESC, results DESC, play, task, occurrence LIMIT @limit`,
  );
  const slowest = db.prepare<Window, { play: string; task: string; occurrence: number; hostname: string; run_id: string; ms: number }>(
    `${keyed}, s AS (SELECT *, row_number() OVER (PARTITION BY play, task, occurrence ORDER BY ms DESC, run_id) AS rank FROM k)
     SELECT s.play, s.task, s.occurrence, h.hostname, s.run_id, s.ms FROM s JOIN hosts h ON h.id = s.host_id WHERE s.rank <= 3
     ORDER BY s.rank`,
  );

  function keyedResults(runId: number): KeyedResult[] {
    const rows = resultsOf.all(runId);
    const occ = taskOccurrences(rows);
    return rows.map((r, i) => ({
      key: taskKey(r.play, r.task, occ[i]!),
      play: r.play,
      task: r.task,
      occurrence: occ[i]!,
      status: r.status,
    }));
  }

  return {
    /** Changed tasks, the latest recorded first; `hostId` null for the whole fleet. */
    changes(query: ChangesQuery, hostId: number | null): ChangesPage {
      const c = query.cursor === undefined ? undefined : decode(query.cursor);
      const rows = (hostId === null ? page : pageOfHost).all({
        host_id: hostId,
        change: query.change ?? null,
        since: query.since ?? null,
        until: query.until ?? null,
        c_recorded: c?.recorded_at ?? null,
        c_run: c?.run ?? null,
        c_seq: c?.seq ?? null,
        limit: query.limit + 1,
      });
      const more = rows.length > query.limit;
      const shown = more ? rows.slice(0, query.limit) : rows;
      const last = shown[shown.length - 1];
      return { changes: shown.map(toChange), next_cursor: more && last ? encode(last) : null };
    },

    /** The run compared with `against` (a run id), else with its host's previous run; undefined when a run is unknown. */
    diff(runId: string, against?: string): RunDiff | undefined {
      const run = runRef.get(runId);
      if (!run) return undefined;
      const other = against === undefined ? previousRun.get(run) : runRef.get(against);
      if (against !== undefined && !other) throw new DomainError('RUN_NOT_FOUND', `against: no run with id ${against}`);
      const mine = keyedResults(run.id);
      const theirs = other ? keyedResults(other.id) : [];
      const before = new Map(theirs.map((t) => [t.key, t]));
      const now = new Set(mine.map((t) => t.key));
      const strip = ({ key: _key, ...t }: KeyedResult) => t;
      return {
        run_id: run.run_id,
        against: other?.run_id ?? null,
        commit: {
          from: other?.commit_sha ?? null,
          to: run.commit_sha,
          changed: other !== undefined && other.commit_sha !== run.commit_sha,
        },
        status_changed: mine.flatMap((t) => {
          const b = before.get(t.key);
          return b && b.status !== t.status ? [{ play: t.play, task: t.task, occurrence: t.occurrence, from: b.status, to: t.status }] : [];
        }),
        new: other ? mine.filter((t) => !before.has(t.key)).map(strip) : [],
        gone: theirs.filter((t) => !now.has(t.key)).map(strip),
      };
    },

    /** Per task key across the fleet, for runs started in the window. */
    tasks(query: TasksQuery): TasksAnswer {
      const w = { since: query.since ?? null, until: query.until ?? null };
      const stats = taskStats.all({ ...w, limit: query.limit });
      const slow = new Map<string, Array<{ hostname: string; run_id: string; duration_ms: number }>>();
      for (const s of slowest.all(w)) {
        const k = taskKey(s.play, s.task, s.occurrence);
        slow.set(k, [...(slow.get(k) ?? []), { hostname: s.hostname, run_id: s.run_id, duration_ms: s.ms }]);
      }
      return {
        since: w.since === null ? null : isoTime(w.since),
        until: w.until === null ? null : isoTime(w.until),
        tasks: stats.map((s) => ({ ...s, avg_ms: Math.round(s.avg_ms), slowest: slow.get(taskKey(s.play, s.task, s.occurrence)) ?? [] })),
      };
    },
  };
}

export type HistoryStore = ReturnType<typeof createHistoryStore>;
