/**
 * Drift: when a run's run_finished is stored, inside the same transaction, its outcome is set and
 * each changed task is classified against the host's earlier runs (the rules in docs/drift.md and
 * taskChanges in src/protocol/status.ts). The run and its host keep counts by classification.
 */
import type { Db } from '../db/database.js';
import { taskChanges, type TaskChange } from '../protocol/status.js';
import type { TaskStatus } from '../protocol/events.js';
import { taskKey, taskOccurrences } from '../protocol/task-key.js';
import { runOutcomeSql } from './status-sql.js';
import type { ChangedTask, LiveTasks } from './live-tasks.js';

/** How many runs in a row, this one included, make a change `repeated`. */
export const REPEATED_RUNS = 3;

export type DriftCounts = Record<TaskChange, number>;

/** What one classification added, for the metrics (src/ingest/commit-effects.ts). */
export interface DriftSummary {
  hostId: number;
  hostname: string;
  added: DriftCounts;
}

interface RunFacts {
  id: number;
  host_id: number;
  hostname: string;
  run_id: string;
  started_at: number;
  commit_sha: string | null;
  tasks_changed: number;
  drift_intentional: number;
  drift_corrective: number;
  drift_repeated: number;
  drift_other: number;
}

interface EarlierRun {
  id: number;
  commit_sha: string | null;
}

interface TaskFact {
  seq: number;
  time: number;
  play: string;
  task: string;
  status: TaskStatus;
}

const zero = (): DriftCounts => ({ intentional: 0, corrective: 0, repeated: 0, other: 0 });

/** The classification of one changed task; `earlier` are the host's runs before this one, newest first. */
export function classifyChange(
  key: string,
  commit: string | null,
  baseline: { commit: string | null; statuses: Map<string, TaskStatus> } | undefined,
  earlier: ReadonlyArray<{ commit: string | null; statuses: Map<string, TaskStatus> }>,
): TaskChange {
  // A missing commit (no git checkout) compares equal to another missing one: the same unknown code.
  if (baseline === undefined || baseline.commit !== commit) return 'intentional';
  const streak = earlier.slice(0, REPEATED_RUNS - 1);
  if (streak.length === REPEATED_RUNS - 1 && streak.every((r) => r.commit === commit && r.statuses.get(key) === 'changed')) {
    return 'repeated';
  }
  return baseline.statuses.get(key) === 'ok' ? 'corrective' : 'other';
}

/** `live` holds the tasks of runs in progress, so a finishing run is classified without reading them back. */
export function createDriftStore(db: Db, live: LiveTasks) {
  const setOutcome = db.prepare<[number]>(`UPDATE runs SET outcome = ${runOutcomeSql('runs')} WHERE id = ?`);
  const runFacts = db.prepare<[number], RunFacts>(
    `SELECT r.id, r.host_id, h.hostname, r.run_id, r.started_at, r.commit_sha, r.tasks_changed,
       r.drift_intentional, r.drift_corrective, r.drift_repeated, r.drift_other
     FROM runs r JOIN hosts h ON h.id = r.host_id WHERE r.id = ?`,
  );
  // Baselines are finished runs that applied changes: a check-mode run enforces nothing.
  const before = `host_id = @host_id AND id <> @id AND finished_at IS NOT NULL AND coalesce(check_mode, 0) = 0
       AND (started_at < @started_at OR (started_at = @started_at AND run_id < @run_id))`;
  type Before = { host_id: number; id: number; started_at: number; run_id: string };
  // The limit is written in: bound as a parameter, the same search took 17 µs instead of 3.
  const earlierRuns = db.prepare<Before, EarlierRun>(
    `SELECT id, commit_sha FROM runs WHERE ${before} ORDER BY started_at DESC, run_id DESC LIMIT ${REPEATED_RUNS - 1}`,
  );
  const lastSucceeded = db.prepare<Before, EarlierRun>(
    `SELECT id, commit_sha FROM runs WHERE ${before} AND status = 'succeeded' ORDER BY started_at DESC, run_id DESC LIMIT 1`,
  );
  const tasksOf = db.prepare<[number], TaskFact>(
    `SELECT seq, time, json_extract(data, '$.play') AS play, json_extract(data, '$.task') AS task,
       json_extract(data, '$.status') AS status
     FROM events WHERE run = ? AND kind = 'task_result' ORDER BY seq, received_at`,
  );
  const forget = db.prepare<[number]>('DELETE FROM task_changes WHERE run = ?');
  const insertChange = db.prepare(
    `INSERT INTO task_changes (run, seq, host_id, time, recorded_at, task_key, change)
     VALUES (@run, @seq, @host_id, @time, @recorded_at, @key, @change)
     ON CONFLICT (run, seq) DO NOTHING`,
  );
  // The outcome is set with the counts: one write of the run's row instead of two.
  const runCounts = db.prepare(
    `UPDATE runs SET outcome = ${runOutcomeSql('runs')}, ${taskChanges.map((c) => `drift_${c} = @${c}`).join(', ')} WHERE id = @id`,
  );
  const hostCounts = db.prepare(
    `UPDATE hosts SET ${taskChanges.map((c) => `drift_${c} = drift_${c} + @${c}`).join(', ')},
       last_corrective_at = CASE WHEN @corrected_at IS NULL THEN last_corrective_at
         ELSE max(coalesce(last_corrective_at, 0), @corrected_at) END
     WHERE id = @id`,
  );

  /** Statuses by task key of one run. */
  function statusesOf(runId: number): Map<string, TaskStatus> {
    const tasks = tasksOf.all(runId);
    const occ = taskOccurrences(tasks);
    return new Map(tasks.map((t, i) => [taskKey(t.play, t.task, occ[i]!), t.status]));
  }

  /** A run's changed tasks with their keys, from memory while it is held there, otherwise from its events. */
  function changedTasksOf(runId: number): ChangedTask[] {
    const held = live.changedOf(runId);
    if (held !== undefined) return held;
    const tasks = tasksOf.all(runId);
    const occ = taskOccurrences(tasks);
    return tasks.flatMap((t, i) => (t.status === 'changed' ? [{ seq: t.seq, time: t.time, key: taskKey(t.play, t.task, occ[i]!) }] : []));
  }

  /**
   * Classifies a finished run (by its integer id); call inside the write's transaction, after its
   * counters. `recordedAt` (receiver clock) orders its changes in GET /changes.
   */
  function classifyRun(id: number, recordedAt: number): DriftSummary | undefined {
    const run = runFacts.get(id);
    if (run === undefined) return undefined;
    const classified = taskChanges.some((c) => run[`drift_${c}`] !== 0);
    // Most periodic runs change nothing: no baseline to read, nothing to classify.
    if (run.tasks_changed === 0 && !classified) {
      setOutcome.run(id);
      return undefined;
    }
    const b = { host_id: run.host_id, id, started_at: run.started_at, run_id: run.run_id };
    const base = lastSucceeded.get(b);
    const baseline = base && { commit: base.commit_sha, statuses: statusesOf(base.id) };
    const earlier = earlierRuns.all(b).map((r) => ({
      commit: r.commit_sha,
      statuses: r.id === base?.id ? baseline!.statuses : statusesOf(r.id),
    }));
    const counts = zero();
    let correctedAt: number | null = null;
    // A second run_finished for the run (a resent finish) classifies it afresh. A run with no
    // counts has no rows to forget (every row counts), which spares the first finish a search.
    if (classified) forget.run(id);
    for (const t of changedTasksOf(id)) {
      const change = classifyChange(t.key, run.commit_sha, baseline, earlier);
      counts[change] += 1;
      if (change === 'corrective') correctedAt = Math.max(correctedAt ?? 0, t.time);
      insertChange.run({ run: id, seq: t.seq, host_id: run.host_id, time: t.time, recorded_at: recordedAt, key: t.key, change });
    }
    const added = zero();
    for (const c of taskChanges) added[c] = counts[c] - run[`drift_${c}`];
    runCounts.run({ id, ...counts });
    hostCounts.run({ id: run.host_id, corrected_at: correctedAt, ...added });
    return { hostId: run.host_id, hostname: run.hostname, added };
  }

  return { classifyRun };
}

export type DriftStore = ReturnType<typeof createDriftStore>;
