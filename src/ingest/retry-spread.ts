/**
 * Over how many seconds the senders refused for overload are told to come back (Retry-After is
 * drawn between 1 and that), so that their retries stop feeding the overload that refused them.
 *
 * A refused sender comes back with everything it gathered meanwhile, and each refusal still costs
 * the receiver an accept and an answer. Spread over a fixed few seconds, the retries of a long
 * burst of refusals arrive while it lasts, are refused again, and the receiver ends up answering
 * mostly refusals (README, Performance: the end of a 20,000-VM rebuild). The spread here grows
 * with the share of deliveries refused in the last WINDOW_S seconds, so the refused senders come
 * back at no more than a tenth of the rate the receiver took deliveries (or of
 * MIN_ADMITTED_PER_S), up to twice the floor: a short burst keeps the floor, a sustained one sends
 * its retries further out.
 */

/** Seconds of refusals and admissions counted. */
const WINDOW_S = 10;
/** Retries of refused senders, as a share of the deliveries admitted in the same time. */
const RETURN_SHARE = 0.1;
/**
 * The most the spread grows, as a multiple of its floor: deliveries are counted, not their events,
 * and with 5,000 VMs refused at once (harsh mode, 100 events a delivery) the share alone sent them
 * a minute away from a receiver that took them all within 20 s.
 */
const MAX_GROWTH = 2;
/**
 * Admissions a second counted at least: a few refusals next to fewer admissions (a small bound, a
 * quiet receiver) are no sustained overload, and keep the floor.
 */
const MIN_ADMITTED_PER_S = 100;

export interface RetrySpreadOptions {
  /** Least spread, in seconds. */
  minS: number;
  /** Longest spread, in seconds. */
  maxS: number;
  clock: () => number;
}

export function createRetrySpread({ minS, maxS, clock }: RetrySpreadOptions) {
  // Counts per second of the window, in a ring indexed by the second.
  const refused = new Float64Array(WINDOW_S);
  const admitted = new Float64Array(WINDOW_S);
  let second = Math.floor(clock() / 1000);
  const advance = (): number => {
    const now = Math.floor(clock() / 1000);
    for (let s = Math.max(second + 1, now - WINDOW_S + 1); s <= now; s++) {
      refused[s % WINDOW_S] = 0;
      admitted[s % WINDOW_S] = 0;
    }
    second = Math.max(second, now);
    return second % WINDOW_S;
  };
  const sum = (a: Float64Array) => a.reduce((x, y) => x + y, 0);

  return {
    /** A delivery was let in. */
    admitted(): void {
      admitted[advance()]! += 1;
    },
    /** A delivery was refused for overload. */
    refused(): void {
      refused[advance()]! += 1;
    },
    /** Seconds to spread the next refused sender's return over: from `floorS` (at least minS) to twice that. */
    seconds(floorS = 0): number {
      advance();
      const floor = Math.max(minS, floorS);
      const needed = Math.ceil((sum(refused) * WINDOW_S) / (RETURN_SHARE * Math.max(MIN_ADMITTED_PER_S * WINDOW_S, sum(admitted))));
      return Math.min(maxS, Math.max(floor, Math.min(needed, MAX_GROWTH * floor)));
    },
  };
}

export type RetrySpread = ReturnType<typeof createRetrySpread>;
