-- Outcomes and drift: what a finished run changed, and why (docs/drift.md).

-- Set when the run's run_finished is stored (runOutcomeSql in src/store/status-sql.ts):
-- changed, unchanged, or pending (a check-mode run that would change something). NULL while running.
ALTER TABLE runs ADD COLUMN outcome TEXT CHECK (outcome IN ('changed', 'unchanged', 'pending'));
-- The run's changed tasks by classification (src/store/drift-store.ts).
ALTER TABLE runs ADD COLUMN drift_intentional INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN drift_corrective  INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN drift_repeated    INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN drift_other       INTEGER NOT NULL DEFAULT 0;
-- Each host's latest run of an outcome, which retention always keeps.
CREATE INDEX runs_host_outcome ON runs (host_id, outcome, started_at DESC, run_id DESC);

-- The host's totals since it was first seen; they outlive pruned runs.
ALTER TABLE hosts ADD COLUMN drift_intentional INTEGER NOT NULL DEFAULT 0;
ALTER TABLE hosts ADD COLUMN drift_corrective  INTEGER NOT NULL DEFAULT 0;
ALTER TABLE hosts ADD COLUMN drift_repeated    INTEGER NOT NULL DEFAULT 0;
ALTER TABLE hosts ADD COLUMN drift_other       INTEGER NOT NULL DEFAULT 0;
ALTER TABLE hosts ADD COLUMN last_corrective_at INTEGER;   -- VM clock of the newest corrective change

-- One row per changed task of a finished run, with its classification. The task's own fields stay
-- in its event (events.run, events.seq).
CREATE TABLE task_changes (
  run       INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  seq       INTEGER NOT NULL,
  host_id   INTEGER NOT NULL,
  time      INTEGER NOT NULL,   -- VM clock of the task result
  task_key  TEXT    NOT NULL,   -- JSON [play, task, occurrence], see docs/drift.md
  change    TEXT    NOT NULL CHECK (change IN ('intentional', 'corrective', 'repeated', 'other')),
  PRIMARY KEY (run, seq)
) WITHOUT ROWID;
CREATE INDEX task_changes_time ON task_changes (time DESC, run DESC, seq DESC);
CREATE INDEX task_changes_host_time ON task_changes (host_id, time DESC, run DESC, seq DESC);

-- Runs finished before this migration: their outcome from their counters (no drift: no baseline was kept).
UPDATE runs SET outcome = CASE WHEN tasks_changed = 0 THEN 'unchanged' WHEN check_mode = 1 THEN 'pending' ELSE 'changed' END
  WHERE status IN ('succeeded', 'failed');
