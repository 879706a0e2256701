-- Initial schema. Times are integer milliseconds since the Unix epoch.

CREATE TABLE hosts (
  id             INTEGER PRIMARY KEY,
  hostname       TEXT    NOT NULL,
  machine_id     TEXT,
  instance_id    TEXT,
  vmid           INTEGER,
  ips            TEXT    NOT NULL DEFAULT '[]',   -- JSON array, latest list the VM reported
  first_seen_at  INTEGER NOT NULL,
  last_seen_at   INTEGER NOT NULL,
  last_address   TEXT,                            -- source address of the latest delivery
  registered_at  INTEGER,                         -- cloud-init phone_home
  latest_run_id  TEXT
);
CREATE INDEX hosts_hostname    ON hosts (hostname);
CREATE INDEX hosts_machine_id  ON hosts (machine_id)  WHERE machine_id IS NOT NULL;
CREATE INDEX hosts_instance_id ON hosts (instance_id) WHERE instance_id IS NOT NULL;
CREATE INDEX hosts_vmid        ON hosts (vmid)        WHERE vmid IS NOT NULL;
CREATE INDEX hosts_last_seen   ON hosts (last_seen_at);

CREATE TABLE host_ips (
  ip       TEXT    NOT NULL,
  host_id  INTEGER NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
  PRIMARY KEY (ip, host_id)
) WITHOUT ROWID;
CREATE INDEX host_ips_host ON host_ips (host_id);

CREATE TABLE runs (
  id                INTEGER PRIMARY KEY,
  run_id            TEXT    NOT NULL UNIQUE,  -- the client's UUID
  host_id           INTEGER NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
  status            TEXT    NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
  started_at        INTEGER NOT NULL,   -- VM clock: run_started time, else the earliest event
  finished_at       INTEGER,            -- VM clock
  last_event_at     INTEGER NOT NULL,   -- receiver clock, drives stale detection
  playbook          TEXT,
  repo_url          TEXT,
  commit_sha        TEXT,
  ansible_version   TEXT,
  check_mode        INTEGER,
  result            TEXT,
  exit_code         INTEGER,
  duration_ms       INTEGER,
  stats             TEXT,               -- JSON: inventory name -> Ansible stats
  tasks_total       INTEGER NOT NULL DEFAULT 0,
  tasks_ok          INTEGER NOT NULL DEFAULT 0,
  tasks_changed     INTEGER NOT NULL DEFAULT 0,
  tasks_failed      INTEGER NOT NULL DEFAULT 0,
  tasks_skipped     INTEGER NOT NULL DEFAULT 0,
  tasks_unreachable INTEGER NOT NULL DEFAULT 0,
  tasks_rescued     INTEGER NOT NULL DEFAULT 0,
  tasks_ignored     INTEGER NOT NULL DEFAULT 0,
  source_address    TEXT
);
CREATE INDEX runs_host_started ON runs (host_id, started_at DESC, run_id DESC);
CREATE INDEX runs_started      ON runs (started_at DESC, run_id DESC);
CREATE INDEX runs_running      ON runs (last_event_at) WHERE status = 'running';

CREATE TABLE events (
  event_id     TEXT    PRIMARY KEY,
  -- The run's integer key, not its UUID: the (run, seq) index stays small and cheap to write.
  run          INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  seq          INTEGER NOT NULL,
  kind         TEXT    NOT NULL,
  time         INTEGER NOT NULL,   -- VM clock
  received_at  INTEGER NOT NULL,   -- receiver clock
  data         TEXT    NOT NULL    -- JSON payload of the kind
);
CREATE INDEX events_run_seq ON events (run, seq);

CREATE TABLE cloud_init_events (
  id           INTEGER PRIMARY KEY,
  host_id      INTEGER NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
  source       TEXT    NOT NULL CHECK (source IN ('reporting', 'phone_home')),
  name         TEXT    NOT NULL,
  event_type   TEXT,
  result       TEXT,
  description  TEXT,
  time         INTEGER NOT NULL,
  received_at  INTEGER NOT NULL
);
CREATE INDEX cloud_init_events_host_time ON cloud_init_events (host_id, time DESC);
