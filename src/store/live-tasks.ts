/**
 * The task results of runs still in progress, kept in memory so that classifying a run's drift when
 * it finishes does not read its task events back from disk. At the end of a mass rebuild every run
 * finishes within seconds, and reading each run's tasks back from pages scattered among the whole
 * fleet's events cost about 400 µs a run.
 *
 * Only what the classification needs is kept: each task's name (interned) and whether it changed,
 * and the seq and time of the changed ones. A run is held only if this process stored every one of
 * its task results, in seq order; anything else (a run older than the process, a result out of
 * order, a write that rolled back, a run evicted to bound memory) forgets it, and the
 * classification reads the run from SQL as before, with the same answer.
 */
import { occurrences, taskKey } from '../protocol/task-key.js';

/** The bounds: past them memory is given back and classification falls back to SQL. */
export interface LiveTaskLimits {
  runs: number;
  tasksPerRun: number;
  names: number;
}

export const defaultLiveTaskLimits: LiveTaskLimits = { runs: 20_000, tasksPerRun: 5_000, names: 50_000 };

/** A changed task of a run, keyed as docs/drift.md says (play, task, occurrence). */
export interface ChangedTask {
  seq: number;
  time: number;
  key: string;
}

interface LiveRun {
  lastSeq: number;
  /** One per task in seq order: name id × 2, plus 1 if it changed. */
  tasks: number[];
  /** seq and time of each changed task, in pairs. */
  changed: number[];
}

export function createLiveTasks(limits: LiveTaskLimits = defaultLiveTaskLimits) {
  const runs = new Map<number, LiveRun>();
  // By play, then task: no pair of names can collide, whatever characters they hold.
  const nameIds = new Map<string, Map<string, number>>();
  const names: Array<{ play: string; task: string }> = [];

  function nameId(play: string, task: string): number {
    let byTask = nameIds.get(play);
    if (byTask === undefined) {
      byTask = new Map();
      nameIds.set(play, byTask);
    }
    let id = byTask.get(task);
    if (id === undefined) {
      id = names.length;
      names.push({ play, task });
      byTask.set(task, id);
    }
    return id;
  }

  function clear(): void {
    runs.clear();
    nameIds.clear();
    names.length = 0;
  }

  return {
    /** A run this process has just created: its task results are held from now on. */
    begin(run: number): void {
      if (runs.size >= limits.runs) runs.delete(runs.keys().next().value!);
      runs.set(run, { lastSeq: -Infinity, tasks: [], changed: [] });
    },

    /** A task result just stored for the run; one out of seq order or past the bound forgets the run. */
    add(run: number, seq: number, time: number, play: string, task: string, changed: boolean): void {
      const r = runs.get(run);
      if (r === undefined) return;
      if (seq <= r.lastSeq || r.tasks.length >= limits.tasksPerRun) {
        runs.delete(run);
        return;
      }
      // Unique names without end (a hostile or generated play) start the memory afresh.
      if (names.length >= limits.names) {
        clear();
        return;
      }
      r.lastSeq = seq;
      r.tasks.push(nameId(play, task) * 2 + (changed ? 1 : 0));
      if (changed) r.changed.push(seq, time);
    },

    /** The run's changed tasks in seq order, or undefined when the run is not held. */
    changedOf(run: number): ChangedTask[] | undefined {
      const r = runs.get(run);
      if (r === undefined) return undefined;
      // Counted by name id: the same rule as taskOccurrences, without a JSON key per task.
      const occ = occurrences(r.tasks, (v) => v >> 1);
      const out: ChangedTask[] = [];
      r.tasks.forEach((v, i) => {
        if ((v & 1) === 0) return;
        const c = out.length * 2;
        const name = names[v >> 1]!;
        out.push({ seq: r.changed[c]!, time: r.changed[c + 1]!, key: taskKey(name.play, name.task, occ[i]!) });
      });
      return out;
    },

    /** Forgets a run: it finished, or the write that held its latest results rolled back. */
    forget(run: number): void {
      runs.delete(run);
    },

    /** How many runs are held, for tests. */
    get size(): number {
      return runs.size;
    },
  };
}

export type LiveTasks = ReturnType<typeof createLiveTasks>;
