/**
 * Group commit: deliveries that arrive in the same turn of the event loop are written in one
 * transaction, and each is answered only after that transaction committed. One fsync (or WAL
 * append) then serves many requests, which is what lets ingest run near the framework's own speed,
 * and makes synchronous=FULL affordable.
 */
import type { EventOutcome } from '../protocol/events.js';
import type { ApplyResult, IncomingEvent, IngestStore } from '../store/ingest-store.js';
import { isBusy, storageFailure } from '../store/storage-errors.js';

interface Pending {
  items: IncomingEvent[];
  /** True once nobody waits for the answer: such a delivery is dropped before its write. */
  abandoned: (() => boolean) | undefined;
  resolve: (outcomes: EventOutcome[] | undefined) => void;
  reject: (err: unknown) => void;
  /** When its write first found the database locked by another connection. */
  busySince?: number;
}

/**
 * While another connection holds the write lock (the checkpointer's RESTART, a backup), a group is
 * tried again every BUSY_RETRY_MS, the event loop free meanwhile, for as long as SQLite's busy
 * timeout used to wait on it (src/db/database.ts); then its deliveries are refused with 503.
 */
const BUSY_RETRY_MS = 2;
const BUSY_GIVE_UP_MS = 2000;

/**
 * How a group is written: tried again later while the database is locked, alone (one delivery of
 * a group that failed), or waiting for the lock (shutdown).
 */
type WriteMode = 'retry' | 'alone' | 'wait';

export interface Committed {
  items: IncomingEvent[];
  outcomes: EventOutcome[];
}

export interface GroupCommitOptions {
  /** Called after each commit with what it stored; feeds waiters and metrics. */
  onCommit: (committed: Committed[], hosts: Omit<ApplyResult, 'outcomes'>) => void;
  /** Upper bound of events in one transaction, so one huge burst cannot stall the loop for long. */
  maxEvents?: number;
  /** false commits each delivery alone: the naive design, kept as the benchmark's baseline. */
  grouping?: boolean;
  /**
   * Least time between the starts of two commits. Under connection churn each request arrives in
   * its own turn of the event loop, so without it nearly every commit carried one request; a
   * request that finds the last commit older than this is committed in the same turn as before.
   */
  minGapMs?: number;
  /**
   * Deliveries that make a group worth committing without waiting out the gap: the gap only
   * gathers a group, and one this large gains nothing by waiting (a client with a fixed number of
   * connections would otherwise be held to that number per gap, whatever the receiver's CPU).
   */
  fullGroup?: number;
  /** Durable mode: makes committed groups power-loss safe (src/db/wal-sync.ts) before they are answered. */
  sync?: () => Promise<void>;
}

/** Durable mode: a group committed, waiting for the WAL sync before it is answered. */
interface Unsynced {
  group: Pending[];
  result: ApplyResult;
}

export function createGroupCommitter(store: IngestStore, options: GroupCommitOptions) {
  const maxEvents = options.maxEvents ?? 5000;
  const grouping = options.grouping ?? true;
  let queue: Pending[] = [];
  const minGapMs = options.minGapMs ?? 0;
  const fullGroup = options.fullGroup ?? 32;
  let scheduled = false;
  /** The pending wait for the gap, when the next flush waits for one. */
  let gapTimer: NodeJS.Timeout | undefined;
  let lastFlush = -Infinity;
  /** The retry of a group that found the database locked: nothing else flushes meanwhile. */
  let busyTimer: NodeJS.Timeout | undefined;
  const cancelGap = () => {
    clearTimeout(gapTimer);
    gapTimer = undefined;
  };
  // Durable mode: groups committed but not yet synced, and whether a sync is running.
  let unsynced: Unsynced[] = [];
  let syncing = false;

  function flush(): void {
    scheduled = false;
    busyTimer = undefined;
    cancelGap();
    if (minGapMs > 0) lastFlush = performance.now();
    if (commitGroup(takeGroup(), 'retry') === 'busy') {
      busyTimer = setTimeout(flush, BUSY_RETRY_MS);
      return;
    }
    // One group per turn of the event loop: when a burst queued more than one group holds, the
    // connections, probes and answers waiting meanwhile are served between two groups instead of
    // after all of them (a queue of 100,000 events would otherwise hold the loop for over a second).
    if (queue.length > 0 && !scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  }

  /** Everything queued, now, in as many groups as it takes: for shutdown. */
  function flushAll(): void {
    clearTimeout(busyTimer);
    busyTimer = undefined;
    while (queue.length > 0) commitGroup(takeGroup(), 'wait');
  }

  /**
   * The next group, leaving out deliveries whose sender has gone (resolved with undefined). Past
   * capacity a sender can give up while its connection waits to be accepted; it retries the same
   * events anyway, and writing them first spent the core on answers nobody reads, which starved
   * the senders still waiting (harsh mode: more deliveries timed out than were answered).
   */
  function takeGroup(): Pending[] {
    queue = queue.filter((p) => {
      if (!p.abandoned?.()) return true;
      p.resolve(undefined);
      return false;
    });
    let count = 0;
    let n = 0;
    while (n < queue.length && (n === 0 || (grouping && count + queue[n]!.items.length <= maxEvents))) {
      count += queue[n]!.items.length;
      n += 1;
    }
    const group = queue.slice(0, n);
    queue = queue.slice(n);
    return group;
  }

  /** Writes a group; 'busy' when it went back to the head of the queue to be tried again. */
  function commitGroup(group: Pending[], mode: WriteMode): 'busy' | undefined {
    // Nothing left once the deliveries whose senders had gone were taken out.
    if (group.length === 0) return undefined;
    try {
      const items = group.length === 1 ? group[0]!.items : group.flatMap((p) => p.items);
      const result = store.writeEvents(items, { wait: mode === 'wait' });
      if (options.sync) {
        unsynced.push({ group, result });
        if (!syncing) void syncLoop(options.sync);
      } else settle(group, result);
    } catch (err) {
      if (mode === 'retry' && isBusy(err)) {
        const now = performance.now();
        const since = group[0]!.busySince ?? now;
        if (now - since < BUSY_GIVE_UP_MS) {
          for (const p of group) p.busySince ??= now;
          queue = group.concat(queue);
          return 'busy';
        }
      }
      if (group.length === 1) {
        group[0]!.reject(err);
        return undefined;
      }
      // One delivery's failure must not fail its neighbours: retry each alone so only it is refused.
      for (const p of group) commitGroup([p], mode === 'wait' ? 'wait' : 'alone');
    }
    return undefined;
  }

  /** One sync at a time; each covers every group committed before it started. */
  async function syncLoop(sync: () => Promise<void>): Promise<void> {
    syncing = true;
    while (unsynced.length > 0) {
      const batch = unsynced;
      unsynced = [];
      try {
        await sync();
        for (const s of batch) settle(s.group, s.result);
      } catch (err) {
        // Committed, but not known to be on stable storage: refuse, and the client's retry of the
        // same event ids is answered as duplicates once it is.
        for (const s of batch) for (const p of s.group) p.reject(storageFailure(err));
      }
    }
    syncing = false;
  }

  function settle(group: Pending[], { outcomes, ...hosts }: ApplyResult): void {
    let offset = 0;
    const committed: Committed[] = group.map((p) => {
      const mine = outcomes.slice(offset, offset + p.items.length);
      offset += p.items.length;
      return { items: p.items, outcomes: mine };
    });
    committed.forEach((c, i) => {
      group[i]!.resolve(c.outcomes);
    });
    options.onCommit(committed, hosts);
  }

  return {
    /**
     * Resolves with one outcome per event once they are committed to disk, or with undefined,
     * nothing written, when `abandoned` says the sender stopped waiting before the write.
     */
    submit(items: IncomingEvent[], abandoned?: () => boolean): Promise<EventOutcome[] | undefined> {
      return new Promise<EventOutcome[] | undefined>((resolve, reject) => {
        queue.push({ items, abandoned, resolve, reject });
        // The database is locked: the retry takes this delivery along.
        if (busyTimer !== undefined) return;
        if (gapTimer !== undefined && queue.length >= fullGroup) {
          // Full before the gap is out: commit after this turn's I/O instead.
          cancelGap();
          setImmediate(flush);
        } else if (!scheduled) {
          scheduled = true;
          // setImmediate runs after the I/O callbacks of this loop turn, so concurrent requests join.
          const wait = minGapMs > 0 ? lastFlush + minGapMs - performance.now() : 0;
          if (wait > 0 && queue.length < fullGroup) gapTimer = setTimeout(flush, wait);
          else setImmediate(flush);
        }
      });
    },
    /** Writes whatever is queued now; used at shutdown. */
    flushNow: flushAll,
  };
}

export type GroupCommitter = ReturnType<typeof createGroupCommitter>;
