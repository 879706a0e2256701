-- Events are unique per run, not by their id alone (README, Performance: the event-id index).
--
-- The plugin's ids are time-ordered, but each VM sends its events up to 2 s after they happened,
-- so across a fleet every commit put its ids at as many places in the last seconds of the id index
-- as it had deliveries: at 10,000 VMs about half of each commit's page writes. Keyed by run first,
-- a delivery's events land next to each other, at the end of their run's entries.
--
-- A redelivery carries the same run, seq and id, so it is still stored once. An id that another
-- run already holds no longer makes an event a duplicate: a VM cannot suppress another VM's events
-- by sending their ids first.
--
-- The table is rebuilt (a primary key cannot be changed in place), and the index built once the
-- rows are in, which is faster than keeping it while copying.
CREATE TABLE events_by_run (
  event_id     TEXT    NOT NULL,
  run          INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  seq          INTEGER NOT NULL,
  kind         TEXT    NOT NULL,
  time         INTEGER NOT NULL,   -- VM clock
  received_at  INTEGER NOT NULL,   -- receiver clock
  data         TEXT    NOT NULL    -- JSON payload of the kind
);
INSERT INTO events_by_run (event_id, run, seq, kind, time, received_at, data)
  SELECT event_id, run, seq, kind, time, received_at, data FROM events ORDER BY rowid;
DROP TABLE events;
ALTER TABLE events_by_run RENAME TO events;
-- A run's events in seq order (run pages, drift, history), and the duplicate check.
CREATE UNIQUE INDEX events_run_seq ON events (run, seq, event_id);
