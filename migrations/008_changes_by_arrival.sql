-- Changed tasks are listed (GET /changes) in the order the receiver recorded them: when the
-- delivery that finished their run arrived, by the receiver's clock.
--
-- Ordered by the task's own time, the VM's clock, two things went wrong. A VM whose clock is off
-- (unsynced, or set to 2099 on purpose) put its changes at the head of every page until its
-- clock came back. And at a rebuild's end, when thousands of runs finish within seconds, each
-- finishing run's changed tasks were spread over its whole play, so every commit rewrote pages
-- all over that index. By arrival, each commit's rows go to the end of the index: 46 WAL frames a
-- finishing commit instead of 82 at 20,000 VMs (README, Performance).
--
-- A run's rows are recorded together, at its finish; rows of runs finished before this migration
-- take the arrival of their run_finished, else their run's last event.
ALTER TABLE task_changes ADD COLUMN recorded_at INTEGER NOT NULL DEFAULT 0;   -- receiver clock
UPDATE task_changes SET recorded_at = coalesce(
  (SELECT max(e.received_at) FROM events e WHERE e.run = task_changes.run AND e.kind = 'run_finished'),
  (SELECT r.last_event_at FROM runs r WHERE r.id = task_changes.run),
  time);
DROP INDEX task_changes_time;
DROP INDEX task_changes_host_time;
-- Ascending: SQLite reads them backwards for newest first, and new rows land on the last leaf.
CREATE INDEX task_changes_recorded ON task_changes (recorded_at, run, seq);
CREATE INDEX task_changes_host_recorded ON task_changes (host_id, recorded_at, run, seq);
