/** The tests' own waiting helper: it retries until a check passes and reports the last failure. */
import { describe, expect, it } from 'vitest';
import { eventually } from './eventually.js';

describe('eventually', () => {
  it('retries a failing check until it passes and returns its value', async () => {
    let tries = 0;
    const value = await eventually(
      () => {
        tries++;
        expect(tries).toBe(3);
        return 'done';
      },
      { interval: 1 },
    );
    expect(value).toBe('done');
    expect(tries).toBe(3);
  });

  it('waits for an async check', async () => {
    const readyAt = Date.now() + 50;
    const now = await eventually(async () => {
      const t = await Promise.resolve(Date.now());
      expect(t).toBeGreaterThanOrEqual(readyAt);
      return t;
    });
    expect(now).toBeGreaterThanOrEqual(readyAt);
  });

  it('throws the last failure once the time is up', async () => {
    const started = Date.now();
    await expect(eventually(() => expect('never').toBe('ready'), { timeout: 100, interval: 10 })).rejects.toThrow(
      /expected 'never' to be 'ready'/,
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
  });
});
