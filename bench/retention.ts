/**
 * Retention by value on a simulated fleet: VMS VMs pulling every INTERVAL minutes for DAYS days,
 * mostly unchanged runs, written compactly with SQL (the rows and indexes production has, without
 * going through HTTP), then pruned once with the service's retention store. Reports the database
 * size before (everything for DAYS days) and after the policy, and the prune time. The full figure
 * is 1,000 VMs; generating 4.3 M runs with their events does not fit the benchmark's budget, so a
 * tenth of the fleet is generated and sizes are scaled by the factor, which the output says.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { openDatabase } from '../src/db/database.js';
import { migrate } from '../src/db/migrate.js';
import { createRetentionStore } from '../src/store/retention-store.js';

export interface RetentionShape {
  /** VMs the figure is for. */
  vms: number;
  /** VMs generated; sizes are scaled by vms / generatedVms. */
  generatedVms: number;
  days: number;
  intervalMin: number;
  tasksPerRun: number;
  /** Share of runs that change something (the rest succeed unchanged, a few fail). */
  changedShare: number;
}

export interface RetentionFigures {
  shape: RetentionShape;
  runs: number;
  events: number;
  generateSeconds: number;
  sizeBeforeMb: number;
  sizeAfterMb: number;
  runsKept: number;
  pruneSeconds: number;
  /** The next prune, an hour later, on the generated fleet. */
  hourlySeconds: number;
  /** Runs deleted per second of prune: the full fleet's first prune takes about runs / this. */
  prunedRunsPerSec: number;
  scale: number;
}

const DAY = 86_400_000;
const fileMb = (path: string) => statSync(path).size / 2 ** 20;

export function benchRetention(dir: string, shape: RetentionShape): RetentionFigures {
  const path = join(dir, 'retention.db');
  const db = openDatabase(path);
  migrate(db);
  const now = Date.now();
  const perVm = Math.floor((shape.days * 24 * 60) / shape.intervalMin);
  const intervalMs = shape.intervalMin * 60_000;
  const started = performance.now();
  const p = {
    vms: shape.generatedVms,
    per_vm: perVm,
    start: now - shape.days * DAY,
    interval: intervalMs,
    tasks: shape.tasksPerRun,
    changed: Math.round(shape.changedShare * 1000),
    now,
  };
  db.transaction(() => {
    db.prepare(
      `WITH RECURSIVE v(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM v WHERE i < @vms)
       INSERT INTO hosts (id, hostname, machine_id, ips, first_seen_at, last_seen_at)
       SELECT i, 'vm-' || i, printf('%032x', i), '[]', @start, @now FROM v`,
    ).run(p);
    // Run n of VM h starts at its slot plus a per-VM offset (RandomizedDelaySec); a pseudo-random
    // draw per run decides changed (changedShare), failed (1 %) or unchanged.
    db.prepare(
      `WITH RECURSIVE n(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM n WHERE k < @per_vm - 1),
       g AS (SELECT h.id AS h, n.k, ((h.id * 2654435761 + n.k * 40503) % 1000) AS draw FROM hosts h, n)
       INSERT INTO runs (run_id, host_id, status, started_at, finished_at, last_event_at, playbook, commit_sha, check_mode,
         result, exit_code, duration_ms, tasks_total, tasks_ok, tasks_changed, tasks_failed, outcome)
       SELECT printf('%08x-0000-4000-8000-%012x', h, k), h, CASE WHEN draw >= 990 THEN 'failed' ELSE 'succeeded' END,
         @start + k * @interval + (h * 7919) % @interval, @start + k * @interval + (h * 7919) % @interval + 60000,
         @start + k * @interval + (h * 7919) % @interval + 60000, 'site.yml', 'abcdef1', 0,
         CASE WHEN draw >= 990 THEN 'failed' ELSE 'success' END, CASE WHEN draw >= 990 THEN 2 ELSE 0 END, 60000,
         @tasks, @tasks - (draw < @changed) - (draw >= 990), (draw < @changed), (draw >= 990),
         CASE WHEN draw < @changed THEN 'changed' ELSE 'unchanged' END
       FROM g`,
    ).run(p);
    db.prepare(
      `WITH RECURSIVE t(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM t WHERE i < @tasks + 1)
       INSERT INTO events (event_id, run, seq, kind, time, received_at, data)
       SELECT printf('%08x-%04x-4000-8000-000000000000', r.id, t.i), r.id, t.i,
         CASE WHEN t.i = 0 THEN 'run_started' WHEN t.i = @tasks + 1 THEN 'run_finished' ELSE 'task_result' END,
         r.started_at + t.i * 1000, r.started_at + t.i * 1000,
         CASE WHEN t.i = 0 THEN '{"playbook":"site.yml","ansible_version":"2.14.18","check_mode":false,"commit":"abcdef1"}'
           WHEN t.i = @tasks + 1 THEN '{"result":"success","duration_ms":60000,"stats":{"localhost":{"ok":10,"changed":0,"failed":0,"skipped":0,"unreachable":0,"rescued":0,"ignored":0}}}'
           ELSE json_object('play', 'Configure the VM', 'task', 'Task number ' || t.i, 'action', 'ansible.builtin.template',
             'target', 'localhost', 'status', CASE WHEN t.i = 1 AND r.tasks_changed > 0 THEN 'changed' WHEN t.i = 2 AND r.tasks_failed > 0 THEN 'failed' ELSE 'ok' END,
             'duration_ms', 250, 'no_log', json('false')) END
       FROM runs r, t`,
    ).run(p);
    db.prepare(
      `INSERT INTO task_changes (run, seq, host_id, time, task_key, change)
       SELECT id, 1, host_id, started_at + 1000, '["Configure the VM","Task number 1",1]', 'intentional' FROM runs WHERE tasks_changed > 0`,
    ).run();
    db.prepare(
      `UPDATE hosts SET latest_run_id = (SELECT run_id FROM runs r WHERE r.host_id = hosts.id ORDER BY started_at DESC LIMIT 1)`,
    ).run();
  })();
  db.pragma('wal_checkpoint(TRUNCATE)');
  const generateSeconds = (performance.now() - started) / 1000;
  const runs = db.prepare('SELECT count(*) FROM runs').pluck().get() as number;
  const events = db.prepare('SELECT count(*) FROM events').pluck().get() as number;
  const sizeBefore = fileMb(path);

  const pruneStarted = performance.now();
  createRetentionStore(db).pruneBefore(now - 90 * DAY, now - 7 * DAY);
  const pruneSeconds = (performance.now() - pruneStarted) / 1000;
  // The next hourly prune: an hour of unchanged runs has aged past the short cut-off, and the runs
  // kept between the cut-offs are walked again.
  const hourlyStarted = performance.now();
  createRetentionStore(db).pruneBefore(now + 3_600_000 - 90 * DAY, now + 3_600_000 - 7 * DAY);
  const hourlySeconds = (performance.now() - hourlyStarted) / 1000;
  db.pragma('wal_checkpoint(TRUNCATE)');
  const runsKept = db.prepare('SELECT count(*) FROM runs').pluck().get() as number;
  const sizeAfter = fileMb(path);
  db.close();
  const scale = shape.vms / shape.generatedVms;
  const mb = (x: number) => Math.round(x * scale * 10) / 10;
  return {
    shape,
    runs,
    events,
    generateSeconds: Math.round(generateSeconds * 10) / 10,
    sizeBeforeMb: mb(sizeBefore),
    sizeAfterMb: mb(sizeAfter),
    runsKept,
    pruneSeconds: Math.round(pruneSeconds * 100) / 100,
    hourlySeconds: Math.round(hourlySeconds * 1000) / 1000,
    prunedRunsPerSec: Math.round((runs - runsKept) / pruneSeconds),
    scale,
  };
}
