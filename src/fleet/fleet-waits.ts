/**
 * Long-polls for many VMs (GET /fleet/wait). A fleet wait looks again when any host changes
 * (ingest, check-ins, cloud-init, a new declared fleet) and once a second, since `missing` and
 * `stale` come with time alone. Few CI jobs wait on fleets at once, so each looks on its own.
 */
import type { EventEmitter } from 'node:events';

export interface FleetWaiter {
  check: () => void;
}

const TICK_MS = 1000;

export function createFleetWaits(changes: EventEmitter<{ change: [hostIds: number[]] }>) {
  const waiters = new Set<FleetWaiter>();
  let scheduled = false;
  let timer: NodeJS.Timeout | undefined;

  const run = () => {
    scheduled = false;
    for (const w of [...waiters]) w.check();
  };
  // Many commits in one turn of the loop make one look, not one each.
  const schedule = () => {
    if (scheduled || waiters.size === 0) return;
    scheduled = true;
    setImmediate(run);
  };
  changes.on('change', schedule);

  return {
    add(w: FleetWaiter): () => void {
      waiters.add(w);
      if (timer === undefined) {
        timer = setInterval(schedule, TICK_MS);
        timer.unref();
      }
      return () => {
        waiters.delete(w);
        if (waiters.size === 0 && timer !== undefined) {
          clearInterval(timer);
          timer = undefined;
        }
      };
    },
    /** Every waiter looks now; at shutdown they answer with what they have. */
    wakeAll: run,
    get size(): number {
      return waiters.size;
    },
  };
}

export type FleetWaits = ReturnType<typeof createFleetWaits>;
