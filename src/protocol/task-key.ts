/**
 * The key that names "the same task" across runs of a host (docs/drift.md): the play's name, the
 * task's name, and its occurrence among tasks of that name in that play within the run (1 for the
 * first). Task results carry no stable task id, so the names are what there is.
 */

export interface KeyedTask {
  play: string;
  task: string;
}

/** Occurrences (1-based) of each item among the items before it with the same name; in seq order. */
export function occurrences<T, N>(items: readonly T[], nameOf: (item: T) => N): number[] {
  const seen = new Map<N, number>();
  return items.map((item) => {
    const name = nameOf(item);
    const n = (seen.get(name) ?? 0) + 1;
    seen.set(name, n);
    return n;
  });
}

/** Occurrences (1-based) of each task in run order; `tasks` must be in seq order. */
export const taskOccurrences = (tasks: readonly KeyedTask[]): number[] => occurrences(tasks, (t) => JSON.stringify([t.play, t.task]));

/** The stored key: a JSON array, so no play or task name can make two keys collide. */
export const taskKey = (play: string, task: string, occurrence: number): string => JSON.stringify([play, task, occurrence]);
