/** The spread of refused senders' Retry-After: the floor while refusals are few, up to twice it while they go on. */
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
    // 45 refused against 9,000 admitted in the window: their retries are far under a tenth of the admissions.
    expect(s.seconds()).toBe(3);
    expect(s.seconds(20)).toBe(20);
  });

  it('grows with the share refused, so the retries come back at a tenth of the admission rate', () => {
    const { s, second } = spread();
    for (let i = 0; i < 10; i++) second(1000, 50);
    // The window holds nine of those seconds: 450 refused against 9,000 admitted. Spread over 5 s,
    // they return at 90 a second.
    expect(s.seconds()).toBe(5);
    expect(s.seconds(20)).toBe(20);
  });

  it('grows to twice its floor at most, and to maxS', () => {
    const { s, second } = spread(3, 60);
    for (let i = 0; i < 10; i++) second(1000, 1500);
    expect(s.seconds()).toBe(6);
    expect(s.seconds(20)).toBe(40);
    expect(s.seconds(40)).toBe(60);
  });

  it('grows when nothing was admitted', () => {
    const { s, second } = spread(3, 60);
    for (let i = 0; i < 10; i++) second(0, 1000);
    expect(s.seconds()).toBe(6);
  });

  it('forgets refusals older than its window, also across a quiet gap', () => {
    const { s, clock, second } = spread(3, 600);
    for (let i = 0; i < 5; i++) second(100, 100);
    // 500 refused against the 1,000 admissions counted at least in 10 s: 50 s.
    expect(s.seconds(30)).toBe(50);
    // Four quiet seconds keep them; past ten seconds they are gone.
    clock.now += 4000;
    expect(s.seconds(30)).toBe(50);
    clock.now += 60_000;
    expect(s.seconds(30)).toBe(30);
    second(1000, 0);
    expect(s.seconds()).toBe(3);
  });

  it('counts at least 100 admissions a second: a few refusals next to fewer admissions keep the floor', () => {
    const { s, second } = spread();
    second(2, 25);
    expect(s.seconds()).toBe(3);
    second(2, 25);
    // 50 refused, against 1,000 admissions at least: spread over 5 s.
    expect(s.seconds()).toBe(5);
  });
});
