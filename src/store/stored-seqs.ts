/**
 * The highest seq this process has stored for each run it created. An event of such a run past
 * that seq cannot be stored already, so its duplicate check (a lookup of the run's entries at its
 * seq, migrations/007) is skipped: about 2 µs an event, most of a fleet's events. A run created
 * before the process started is not known, and its events are looked up as before. A write that
 * rolls back can only leave the highest seq too high, which costs a lookup, never a lost event.
 */

/** Runs known at once; past it the oldest is forgotten (its events are then looked up). */
const MAX_RUNS = 50_000;

export function createStoredSeqs(maxRuns = MAX_RUNS) {
  const highest = new Map<number, number>();
  return {
    /** A run this process has just created: nothing of it is stored yet. */
    begin(run: number): void {
      if (highest.size >= maxRuns) highest.delete(highest.keys().next().value!);
      highest.set(run, -1);
    },
    /** Whether an event of the run at `seq` may be stored already (true when the run is not known). */
    mayHold(run: number, seq: number): boolean {
      const h = highest.get(run);
      return h === undefined || seq <= h;
    },
    /** An event of the run was stored at `seq`. */
    stored(run: number, seq: number): void {
      const h = highest.get(run);
      if (h !== undefined && seq > h) highest.set(run, seq);
    },
  };
}
