-- The events' one index keyed by (run, seq) alone (README, Performance: the run's index leaf).
--
-- Each delivery adds its events in the middle of this index, at the end of its run's entries, and
-- with the 36-character event id in every entry a leaf held about 80 of them: at 10,000 VMs a
-- delivery of 10 events split a leaf every few deliveries, and each split rewrote the leaf's
-- neighbours and their parent, 3 of a delivery's 5 pages. Two integers an entry fit four times as
-- many in a leaf.
--
-- An event is still stored once per run, seq and id: the ingest store looks the three up before
-- it inserts (src/store/ingest-store.ts), inside the same write transaction.
DROP INDEX events_run_seq;
CREATE INDEX events_run_seq ON events (run, seq);
