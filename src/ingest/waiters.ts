/**
 * Long-poll waiters keyed by host id. A waiter sleeps on a timer; the ingest path wakes the
 * waiters of a host when one of its runs finishes, so nothing polls the database per waiter.
 */
export interface Waiter {
  wake: () => void;
}

export function createWaiters() {
  const byHost = new Map<number, Set<Waiter>>();
  // Waiters for a host the receiver has not heard of yet: woken on every finish, then re-checked.
  const unknown = new Set<Waiter>();

  function add(hostId: number | undefined, waiter: Waiter): () => void {
    const set = hostId === undefined ? unknown : (byHost.get(hostId) ?? new Set<Waiter>());
    if (hostId !== undefined) byHost.set(hostId, set);
    set.add(waiter);
    return () => {
      set.delete(waiter);
      if (hostId !== undefined && set.size === 0) byHost.delete(hostId);
    };
  }

  return {
    add,
    /** Wakes everyone waiting on these hosts, and those waiting on a host not yet known. */
    notify(hostIds: Iterable<number>): void {
      for (const id of hostIds) for (const w of [...(byHost.get(id) ?? [])]) w.wake();
      if (unknown.size > 0) for (const w of [...unknown]) w.wake();
    },
    /** Wakes every waiter; at shutdown they answer with what they have. */
    wakeAll(): void {
      for (const set of byHost.values()) for (const w of [...set]) w.wake();
      for (const w of [...unknown]) w.wake();
    },
    get size(): number {
      let n = unknown.size;
      for (const set of byHost.values()) n += set.size;
      return n;
    },
  };
}

export type Waiters = ReturnType<typeof createWaiters>;
