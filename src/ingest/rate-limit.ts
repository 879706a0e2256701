/**
 * Per-source token bucket for ingest. A VM's callback sends a few hundred small batches per run,
 * so the default allows bursts of a full minute's budget; a flood from one address gets 429.
 */
const MAX_TRACKED = 100_000;

interface Bucket {
  tokens: number;
  at: number;
}

export function createRateLimiter(perMinute: number, clock: () => number) {
  const buckets = new Map<string, Bucket>();
  const ratePerMs = perMinute / 60_000;
  // A sweep walks every bucket: run one only after the map has grown by a tenth of the bound since
  // the last, or a flood of new addresses past half the bound paid a full sweep per request.
  let sweepAt = MAX_TRACKED / 2;

  /** Drops buckets that have refilled, so spoofed-looking floods of addresses cannot grow memory. */
  function sweep(now: number): void {
    for (const [key, b] of buckets) if (b.tokens + (now - b.at) * ratePerMs >= perMinute) buckets.delete(key);
    if (buckets.size >= MAX_TRACKED) buckets.clear();
    sweepAt = Math.max(MAX_TRACKED / 2, buckets.size + MAX_TRACKED / 10);
  }

  return {
    /** Takes one token; returns 0 when allowed, else the seconds to wait before retrying. */
    take(source: string): number {
      if (perMinute === 0) return 0;
      const now = clock();
      let b = buckets.get(source);
      if (b === undefined) {
        if (buckets.size >= sweepAt) sweep(now);
        b = { tokens: perMinute, at: now };
        buckets.set(source, b);
      }
      b.tokens = Math.min(perMinute, b.tokens + (now - b.at) * ratePerMs);
      b.at = now;
      if (b.tokens >= 1) {
        b.tokens -= 1;
        return 0;
      }
      return Math.max(1, Math.ceil((1 - b.tokens) / ratePerMs / 1000));
    },
  };
}
