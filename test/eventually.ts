/** Waiting in tests for something that happens on its own time: a process, a socket, a timer. */
import { setTimeout as delay } from 'node:timers/promises';

export interface EventuallyOptions {
  /** How long to keep trying, in ms (default 5000). */
  timeout?: number;
  /** Pause between tries, in ms (default 20). */
  interval?: number;
}

/**
 * Runs `check` until it returns without throwing, and gives back what it returned; past the
 * timeout, the last failure is thrown, so a failed `expect` inside reads as it would have at once.
 */
export async function eventually<T>(check: () => T | Promise<T>, { timeout = 5000, interval = 20 }: EventuallyOptions = {}): Promise<T> {
  const deadline = Date.now() + timeout;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() >= deadline) throw err;
    }
    await delay(interval);
  }
}

/**
 * Lets `ms` pass, for a test that shows something does NOT happen in that window (no polling,
 * no second event), or one that acts at a chosen moment (a kill under load). Waiting for
 * something to happen is `eventually`'s job.
 */
export const quietFor = (ms: number): Promise<void> => delay(ms);
