-- Indexes every delivery rewrote without a query that needs them (README, Performance).

-- A host's last-seen time changes with every delivery; nothing reads hosts in that order through
-- an index (identity lookups pick the newest among a handful of rows, the gauges read every host).
DROP INDEX hosts_last_seen;

-- The running runs, for the gauges: keyed by a column that never changes, so a delivery's
-- last_event_at no longer moves its run's entry. Only the end of a run touches it.
DROP INDEX runs_running;
CREATE INDEX runs_running ON runs (host_id) WHERE status = 'running';
