/** src/ingest/rate-limit.ts on its own, on a clock the test moves: burst, refill, retry hint, sources apart. */
import { describe, expect, it } from 'vitest';
import { createRateLimiter } from '../../src/ingest/rate-limit.js';

/** A limiter on a hand-moved clock (ms), as the app passes it `ctx.clock`. */
function limiter(perMinute: number) {
  let now = Date.parse('2026-03-01T12:00:00Z');
  const limit = createRateLimiter(perMinute, () => now);
  return {
    take: (source = '192.0.2.10') => limit.take(source),
    /** How many takes in a row are allowed right now. */
    burst: (source = '192.0.2.10') => {
      let n = 0;
      while (limit.take(source) === 0) n++;
      return n;
    },
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe('rate limiter', () => {
  it('allows a full minute of budget at once, then answers with the seconds to wait', () => {
    const l = limiter(60);
    expect(l.burst()).toBe(60);
    // One token a second comes back: the next one in 1 s.
    expect(l.take()).toBe(1);
  });

  it('refills at the per-minute rate and rounds the wait up to whole seconds', () => {
    const l = limiter(6); // one token every 10 s
    expect(l.burst()).toBe(6);
    expect(l.take()).toBe(10);
    l.advance(5_000);
    expect(l.take()).toBe(5);
    l.advance(4_001);
    expect(l.take()).toBe(1); // 0.9999 s left: never "retry in 0 s"
    l.advance(999);
    expect(l.take()).toBe(0);
    expect(l.take()).toBe(10);
  });

  it('does not charge refused requests', () => {
    const l = limiter(6);
    l.burst();
    for (let i = 0; i < 100; i++) expect(l.take()).toBeGreaterThan(0);
    l.advance(10_000);
    expect(l.take()).toBe(0);
  });

  it('caps the savings of a quiet source at one minute of budget', () => {
    const l = limiter(60);
    l.take();
    l.advance(24 * 3_600_000);
    expect(l.burst()).toBe(60);
  });

  it('keeps sources apart', () => {
    const l = limiter(3);
    expect(l.burst('192.0.2.10')).toBe(3);
    expect(l.take('192.0.2.10')).toBe(20);
    expect(l.burst('192.0.2.11')).toBe(3);
    expect(l.burst('2001:db8::1')).toBe(3);
  });

  it('a clock stepping back gives no tokens away', () => {
    const l = limiter(6);
    l.burst();
    l.advance(-60_000);
    expect(l.take()).toBeGreaterThan(0);
    l.advance(60_000 + 10_000);
    expect(l.take()).toBe(0);
  });

  it('with 0 per minute, never limits', () => {
    const l = limiter(0);
    for (let i = 0; i < 10_000; i++) expect(l.take()).toBe(0);
  });
});

describe('rate limiter with many sources', () => {
  it('keeps limiting each source while 100,000 distinct ones pass, sweeping only now and then', () => {
    const l = limiter(2);
    for (let i = 0; i < 100_000; i++) l.take(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    // A source seen among them still has its spent budget: nothing swept it while it was not refilled.
    expect(l.take('10.1.134.159')).toBe(0);
    expect(l.take('10.1.134.159')).toBeGreaterThan(0);
  });
});
