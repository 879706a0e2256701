/**
 * Pacing: the receiver tells its senders how long to gather events before their next delivery,
 * so that a whole fleet reporting at once sends about `rate` deliveries a second, however many
 * VMs it has.
 *
 * Each delivery costs the receiver far more than each event in it (the connection, the HTTP
 * exchange, a host lookup, a share of a commit: about 0.5 ms against about 15 µs an event on
 * the benchmark's machine), and the plugin sends one delivery per VM every 2 s while a play
 * runs. Past a few thousand VMs rebuilding at once, the request rate alone would take more than
 * one core, while the same events in fewer, larger batches take a fraction of it. Shedding
 * (503 + Retry-After) protects the receiver once it is too late; pacing keeps it from getting
 * there. The rule is feed-forward, not a feedback loop, so it cannot oscillate: with N senders
 * active, each lingering N / rate seconds, the fleet sends `rate` deliveries a second.
 *
 * A sender counts as active for `windowMs` after its latest delivery (up to a second more, until
 * the next sweep); the window is longer than the longest advice, so a VM that was told to wait is
 * still counted when it comes back.
 */

/** What the plugin lingers on its own (LINGER in webhook_status.py): advice below it is not given. */
export const SENDER_LINGER_MS = 2000;

/** Expired senders are swept out at most this often. */
const SWEEP_MS = 1000;

export interface PacerOptions {
  /** Deliveries a second the fleet is paced to; 0 turns pacing off (the advice is always 0). */
  rate: number;
  /** Longest advice, so a huge fleet still reports progress now and then. */
  maxMs: number;
  clock: () => number;
}

export function createPacer({ rate, maxMs, clock }: PacerOptions) {
  const windowMs = maxMs * 2;
  // Ordered by latest delivery: seeing a source again moves it to the end, so the expired ones
  // are always at the front and the sweep stops at the first that is not.
  const lastSeen = new Map<string, number>();

  // Each delivery moves its source to the end, which leaves a deleted entry at the front that an
  // iteration walks past until the table is rebuilt: sweeping on every delivery and answer cost
  // 19 µs a delivery with 20,000 senders reporting in turn (0.5 µs now). Once a second is enough
  // for a window of minutes.
  let sweptAt = -Infinity;
  const expire = (now: number) => {
    if (now - sweptAt < SWEEP_MS) return;
    sweptAt = now;
    for (const [source, at] of lastSeen) {
      if (at > now - windowMs) break;
      lastSeen.delete(source);
    }
  };

  return {
    /** Notes a delivery from `source` (its address). */
    seen(source: string): void {
      if (rate <= 0) return;
      const now = clock();
      lastSeen.delete(source);
      lastSeen.set(source, now);
      expire(now);
    },
    /** Senders with a delivery in the window. */
    active(): number {
      expire(clock());
      return lastSeen.size;
    },
    /**
     * How long a sender should gather events before its next delivery, in ms; 0 while the
     * senders' own linger already keeps the fleet under `rate`.
     */
    lingerMs(): number {
      if (rate <= 0) return 0;
      const ms = Math.ceil((this.active() / rate) * 1000);
      return ms <= SENDER_LINGER_MS ? 0 : Math.min(maxMs, ms);
    },
  };
}

export type Pacer = ReturnType<typeof createPacer>;
