-- The expected fleet, check-ins, and what a host's status needs from cloud-init and check-ins.

-- VMs that should exist: declared with PUT /fleet and/or discovered from Proxmox. A VM left out of
-- both is deleted from here; its host row and history stay.
CREATE TABLE expected_vms (
  id              INTEGER PRIMARY KEY,
  name            TEXT    NOT NULL,
  vmid            INTEGER,
  ip              TEXT,
  labels          TEXT    NOT NULL DEFAULT '{}',  -- JSON object of string labels
  declared        INTEGER NOT NULL DEFAULT 0,     -- named by the latest PUT /fleet
  discovered      INTEGER NOT NULL DEFAULT 0,     -- present in the latest Proxmox poll
  node            TEXT,                           -- Proxmox node
  power           TEXT,                           -- Proxmox status: running, stopped, ...
  expected_since  INTEGER NOT NULL                -- receiver clock
);
CREATE UNIQUE INDEX expected_vms_vmid ON expected_vms (vmid) WHERE vmid IS NOT NULL;
CREATE INDEX expected_vms_name ON expected_vms (name);

-- One row per ansible-pull invocation, reported by the wrapper whether or not the playbook ran.
CREATE TABLE checkins (
  event_id          TEXT    PRIMARY KEY,
  host_id           INTEGER NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
  run_id            TEXT    NOT NULL,
  result            TEXT    NOT NULL CHECK (result IN ('ran', 'skipped', 'pull_failed', 'start_failed')),
  exit_code         INTEGER NOT NULL,
  commit_before     TEXT,
  commit_after      TEXT,
  duration_ms       INTEGER NOT NULL,
  interval_seconds  INTEGER,
  repo_url          TEXT,
  playbook          TEXT,
  error             TEXT,
  time              INTEGER NOT NULL,   -- VM clock
  received_at       INTEGER NOT NULL    -- receiver clock
);
CREATE INDEX checkins_host_time ON checkins (host_id, received_at DESC);
CREATE INDEX checkins_received ON checkins (received_at);

-- Kept on the host row so a fleet view needs no per-host subqueries.
ALTER TABLE hosts ADD COLUMN last_checkin_id TEXT;          -- event_id of the newest check-in
ALTER TABLE hosts ADD COLUMN last_checkin_at INTEGER;       -- receiver clock
ALTER TABLE hosts ADD COLUMN checkin_interval_s INTEGER;    -- interval the newest check-in declared
ALTER TABLE hosts ADD COLUMN cloud_init_last_at INTEGER;    -- receiver clock of the newest cloud-init report
ALTER TABLE hosts ADD COLUMN cloud_init_failed_at INTEGER;  -- receiver clock of the newest FAIL report
ALTER TABLE hosts ADD COLUMN cloud_init_failed_name TEXT;   -- its stage, e.g. modules-final/config-scripts-user
ALTER TABLE hosts ADD COLUMN last_checkin_result TEXT;      -- result of the newest check-in
-- A host created by PUT /fleet or Proxmox discovery before the VM said anything; the VM's first
-- report is matched to it by VMID, hostname or IP and clears the flag.
ALTER TABLE hosts ADD COLUMN placeholder INTEGER NOT NULL DEFAULT 0;

-- Each expected VM has its host row (a placeholder until it reports).
ALTER TABLE expected_vms ADD COLUMN host_id INTEGER REFERENCES hosts (id) ON DELETE SET NULL;
CREATE UNIQUE INDEX expected_vms_host ON expected_vms (host_id) WHERE host_id IS NOT NULL;

-- Hosts from before this migration: what their cloud-init reports already say.
UPDATE hosts SET
  cloud_init_last_at = (SELECT max(received_at) FROM cloud_init_events c WHERE c.host_id = hosts.id),
  cloud_init_failed_at = (SELECT max(received_at) FROM cloud_init_events c WHERE c.host_id = hosts.id AND c.result = 'FAIL'),
  cloud_init_failed_name = (SELECT name FROM cloud_init_events c WHERE c.host_id = hosts.id AND c.result = 'FAIL'
                            ORDER BY received_at DESC, id DESC LIMIT 1);
