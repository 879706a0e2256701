/** The spread of refused senders' Retry-After: the floor while refusals are few, longer while they go on. */
import { describe, expect, it } from 'vitest';
import { createRetrySpread } from '../../src/ingest/retry-spread.js';

function spread(minS = 3, maxS = 60) {
  const clock = { now: 1_000_000 };
  const s = createRetrySpread({ minS, maxS, clock: () => clock.now });
  const second = (admitted: number, refused: number) => {
    for (let i = 0; i < admitted; i++) s.admitted();
    for (let i = 0; i < refused; i++) s.refused();
    clock.now += 1000;
  };
  return { s, clock, second };
}

describe('retry spread', () => {
  it('keeps the floor, or the longer one asked, while few deliveries are refused', () => {
    const { s, second } = spread();
    expect(s.seconds()).toBe(3);
    for (let i = 0; i < 10; i++) second(1000, 5);
    // 50 refused against 10,000 admitted: their retries are far under a tenth of the admissions.
    expect(s.seconds()).toBe(3);
    expect(s.seconds(20)).toBe(20);
  });

  it('grows with the share refused, so the retries come back at a tenth of the admission rate', () => {
    const { s, second } = spread(3, 600);
    for (let i = 0; i < 10; i++) second(1000, 300);
    // 3,000 refused in 10 s against 10,000 admitted: spread over 30 s, they return at 100 a second.
    expect(s.seconds()).toBe(30);
    expect(s.seconds(40)).toBe(40);
  });

  it('stops at its longest, also when nothing was admitted', () => {
    const { s, second } = spread(3, 60);
    for (let i = 0; i < 10; i++) second(0, 1000);
    expect(s.seconds()).toBe(60);
  });

  it('counts at least 100 admissions a second: a few refusals next to fewer admissions keep the floor', () => {
    const { s, second } = spread(3, 600);
    second(2, 25);
    expect(s.seconds()).toBe(3);
    second(2, 25);
    // 50 refused, against 1,000 admissions at least: spread over 5 s.
    expect(s.seconds()).toBe(5);
  });

  it('forgets refusals older than its window, also across a quiet gap', () => {
    const { s, clock, second } = spread(3, 600);
    for (let i = 0; i < 5; i++) second(100, 100);
    expect(s.seconds()).toBeGreaterThan(3);
    // Five quiet seconds keep them; past ten seconds they are gone.
    clock.now += 4000;
    // 500 refused against the 1,000 admissions counted at least in 10 s.
    expect(s.seconds()).toBe(50);
    clock.now += 60_000;
    expect(s.seconds()).toBe(3);
    second(1000, 0);
    expect(s.seconds()).toBe(3);
  });
});
