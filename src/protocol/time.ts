/**
 * The range of times the service accepts and stores: every time field at ingest is refused outside
 * it, so nothing stored can be beyond what a Date (and ISO 8601) can show.
 */
export const TIME_MIN_MS = 0; // 1970-01-01T00:00:00Z: an unsynced VM clock can be early, never before
export const TIME_MAX_MS = Date.UTC(2100, 0, 1);
export const TIME_RANGE_TEXT = 'between 1970-01-01 and 2100-01-01';

export const inTimeRange = (ms: number) => Number.isFinite(ms) && ms >= TIME_MIN_MS && ms < TIME_MAX_MS;

/** ISO 8601 for a stored time; a value from before this range existed is clamped, never thrown on. */
export function isoTime(ms: number): string {
  const safe = Number.isFinite(ms) ? Math.min(Math.max(ms, TIME_MIN_MS), TIME_MAX_MS) : TIME_MIN_MS;
  return new Date(safe).toISOString();
}
