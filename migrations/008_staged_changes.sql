-- Classified changes on their way to task_changes (src/store/change-staging.ts).
--
-- A finishing run's changed tasks went into task_changes in the commit that stored its
-- run_finished: each row into three b-trees, the time index at a place set by the task's own time,
-- so at the end of a mass rebuild every finishing delivery dirtied about 15 pages no other
-- delivery of its commit shared (22 frames a finishing delivery against 4 for others, in a replay
-- of 10,000 VMs). Now that commit stages them as one row a run, and a later commit moves a few
-- dozen runs' rows at once, in time order, so the leaves they share are written once. Staged rows
-- are on disk like the rest: a restart moves them too, and every read of task_changes moves them
-- first.
CREATE TABLE task_changes_staged (
  run       INTEGER PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
  host_id   INTEGER NOT NULL,
  staged_at INTEGER NOT NULL,   -- receiver clock (ms)
  changes   TEXT    NOT NULL    -- JSON [[seq, time, task_key, change], ...], as task_changes' columns
);
