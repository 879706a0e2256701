/**
 * Writes: turns protocol events into rows and keeps the derived run and host state current.
 * Every statement is prepared once; callers wrap calls in a transaction (see group-commit.ts).
 */
import type { Db } from '../db/database.js';
import { taskStatuses, type EventOutcome, type HostIdentity, type WebhookEvent } from '../protocol/events.js';
import { runStatusFromFinish } from './status.js';

export interface IncomingEvent {
  event: WebhookEvent;
  address: string;
  receivedAt: number;
}

export interface ApplyResult {
  outcomes: EventOutcome[];
  /** Hosts whose run finished in this write, for long-poll waiters. */
  finishedHostIds: Set<number>;
}

/** Cloud-init's identity for a host is only what it puts in the URL and the phone_home form. */
export interface PartialIdentity {
  hostname?: string | undefined;
  instance_id?: string | undefined;
}

export function createIngestStore(db: Db) {
  const byMachineId = db.prepare<[string], { id: number }>(
    'SELECT id FROM hosts WHERE machine_id = ? ORDER BY last_seen_at DESC LIMIT 1',
  );
  const byInstanceId = db.prepare<[string], { id: number }>(
    'SELECT id FROM hosts WHERE instance_id = ? ORDER BY last_seen_at DESC LIMIT 1',
  );
  const byVmid = db.prepare<[number], { id: number }>('SELECT id FROM hosts WHERE vmid = ? ORDER BY last_seen_at DESC LIMIT 1');
  const byHostname = db.prepare<[string], { id: number }>(
    'SELECT id FROM hosts WHERE hostname = ? ORDER BY last_seen_at DESC LIMIT 1',
  );
  const insertHost = db.prepare(
    `INSERT INTO hosts (hostname, machine_id, instance_id, vmid, ips, first_seen_at, last_seen_at, last_address)
     VALUES (@hostname, @machine_id, @instance_id, @vmid, @ips, @now, @now, @address)`,
  );
  const updateHost = db.prepare(
    `UPDATE hosts SET hostname = @hostname,
       machine_id = coalesce(@machine_id, machine_id),
       instance_id = coalesce(@instance_id, instance_id),
       vmid = coalesce(@vmid, vmid),
       ips = coalesce(@ips, ips),
       last_seen_at = max(last_seen_at, @now),
       last_address = @address
     WHERE id = @id`,
  );
  const deleteIps = db.prepare('DELETE FROM host_ips WHERE host_id = ?');
  const insertIp = db.prepare('INSERT OR IGNORE INTO host_ips (ip, host_id) VALUES (?, ?)');
  const insertEvent = db.prepare(
    `INSERT INTO events (event_id, run_id, seq, kind, time, received_at, data)
     VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING`,
  );
  // Task counters ride on the run upsert: one statement per task result keeps ingest cheap.
  const upsertRun = db.prepare<Record<string, string | number>, { host_id: number }>(
    `INSERT INTO runs (run_id, host_id, status, started_at, last_event_at, source_address, tasks_total, tasks_ok,
       tasks_changed, tasks_failed, tasks_skipped, tasks_unreachable, tasks_rescued, tasks_ignored)
     VALUES (@run_id, @host_id, 'running', @time, @now, @address, @total, @ok, @changed, @failed, @skipped,
       @unreachable, @rescued, @ignored)
     ON CONFLICT (run_id) DO UPDATE SET
       last_event_at = max(last_event_at, excluded.last_event_at),
       started_at = min(started_at, excluded.started_at),
       tasks_total = tasks_total + excluded.tasks_total, tasks_ok = tasks_ok + excluded.tasks_ok,
       tasks_changed = tasks_changed + excluded.tasks_changed, tasks_failed = tasks_failed + excluded.tasks_failed,
       tasks_skipped = tasks_skipped + excluded.tasks_skipped,
       tasks_unreachable = tasks_unreachable + excluded.tasks_unreachable,
       tasks_rescued = tasks_rescued + excluded.tasks_rescued, tasks_ignored = tasks_ignored + excluded.tasks_ignored
     RETURNING host_id`,
  );
  const runStarted = db.prepare(
    `UPDATE runs SET playbook = @playbook, repo_url = @repo_url, commit_sha = @commit,
       ansible_version = @ansible_version, check_mode = @check_mode, started_at = @time
     WHERE run_id = @run_id`,
  );
  const runFinished = db.prepare(
    `UPDATE runs SET status = @status, finished_at = @time, result = @result, exit_code = @exit_code,
       duration_ms = @duration_ms, stats = @stats
     WHERE run_id = @run_id`,
  );
  // The latest run is the one that started last; a late delivery of an older run does not displace it.
  const setLatestRun = db.prepare(
    `UPDATE hosts SET latest_run_id = @run_id WHERE id = @host_id AND (latest_run_id IS NULL OR
       coalesce((SELECT started_at FROM runs WHERE run_id = hosts.latest_run_id), 0) <= @time
       OR latest_run_id = @run_id)`,
  );
  const insertCloudInit = db.prepare(
    `INSERT INTO cloud_init_events (host_id, source, name, event_type, result, description, time, received_at)
     VALUES (@host_id, @source, @name, @event_type, @result, @description, @time, @now)`,
  );
  const updateHostLight = db.prepare(
    `UPDATE hosts SET hostname = coalesce(@hostname, hostname), instance_id = coalesce(@instance_id, instance_id),
       last_seen_at = max(last_seen_at, @now), last_address = @address WHERE id = @id`,
  );
  const registerHost = db.prepare('UPDATE hosts SET registered_at = coalesce(registered_at, @now) WHERE id = @id');

  function findHost(id: PartialIdentity & Partial<HostIdentity>): number | undefined {
    return (
      (id.machine_id !== undefined ? byMachineId.get(id.machine_id)?.id : undefined) ??
      (id.instance_id !== undefined ? byInstanceId.get(id.instance_id)?.id : undefined) ??
      (id.vmid !== undefined ? byVmid.get(id.vmid)?.id : undefined) ??
      (id.hostname !== undefined ? byHostname.get(id.hostname)?.id : undefined)
    );
  }

  /** Finds the host by its strongest identity and merges what the event says about it. */
  function resolveHost(identity: HostIdentity, address: string, now: number): number {
    const row = {
      hostname: identity.hostname,
      machine_id: identity.machine_id ?? null,
      instance_id: identity.instance_id ?? null,
      vmid: identity.vmid ?? null,
      ips: identity.ips ? JSON.stringify(identity.ips) : null,
      now,
      address,
    };
    let id = findHost(identity);
    if (id === undefined) {
      id = Number(insertHost.run({ ...row, ips: row.ips ?? '[]' }).lastInsertRowid);
    } else {
      updateHost.run({ ...row, id });
    }
    if (identity.ips) {
      deleteIps.run(id);
      for (const ip of identity.ips) insertIp.run(ip, id);
    }
    return id;
  }

  // Runs whose latest-run pointer is already settled; lets task results skip that update.
  const settledRuns = new Map<string, true>();
  const SETTLED_MAX = 20_000;

  function settleLatest(runId: string, hostId: number, time: number): void {
    setLatestRun.run({ run_id: runId, host_id: hostId, time });
    if (settledRuns.size >= SETTLED_MAX) settledRuns.delete(settledRuns.keys().next().value!);
    settledRuns.set(runId, true);
  }

  function applyOne(item: IncomingEvent, hostId: number, finished: Set<number>): EventOutcome {
    const { event: e, address, receivedAt } = item;
    const time = Date.parse(e.time);
    // The event id is the idempotency key: an insert that changes nothing is a redelivery.
    if (insertEvent.run(e.event_id, e.run_id, e.seq, e.kind, time, receivedAt, JSON.stringify(e.data)).changes === 0) {
      return 'duplicate';
    }
    const status = e.kind === 'task_result' ? e.data.status : undefined;
    const owner = upsertRun.get({
      run_id: e.run_id,
      host_id: hostId,
      time,
      now: receivedAt,
      address,
      total: status ? 1 : 0,
      ...Object.fromEntries(taskStatuses.map((s) => [s, s === status ? 1 : 0])),
    })!.host_id;
    if (e.kind === 'run_started') {
      runStarted.run({ ...e.data, check_mode: e.data.check_mode ? 1 : 0, repo_url: e.data.repo_url ?? null, commit: e.data.commit ?? null, time, run_id: e.run_id });
    } else if (e.kind === 'run_finished') {
      runFinished.run({
        status: runStatusFromFinish(e.data),
        time,
        result: e.data.result,
        exit_code: e.data.exit_code ?? null,
        duration_ms: e.data.duration_ms,
        stats: JSON.stringify(e.data.stats),
        run_id: e.run_id,
      });
      finished.add(owner);
    }
    // A task result of a run already settled cannot change which run is the host's latest.
    if (e.kind !== 'task_result' || !settledRuns.has(e.run_id)) settleLatest(e.run_id, owner, time);
    return 'stored';
  }

  return {
    /** Forgets cached knowledge after a rolled-back transaction, since it may describe undone writes. */
    rolledBack(): void {
      settledRuns.clear();
    },

    /** Stores events; must run inside a transaction. Hosts are resolved once per distinct identity. */
    applyEvents(items: IncomingEvent[]): ApplyResult {
      const finishedHostIds = new Set<number>();
      const hostCache = new Map<string, number>();
      const outcomes = items.map((item) => {
        const key = JSON.stringify(item.event.host) + item.address;
        let hostId = hostCache.get(key);
        if (hostId === undefined) {
          hostId = resolveHost(item.event.host, item.address, item.receivedAt);
          hostCache.set(key, hostId);
        }
        return applyOne(item, hostId, finishedHostIds);
      });
      return { outcomes, finishedHostIds };
    },

    /** Records a cloud-init report or phone_home for the VM named in the URL; creates the host if new. */
    applyCloudInit(
      vm: string,
      identity: PartialIdentity,
      report: { source: 'reporting' | 'phone_home'; name: string; event_type?: string | null; result?: string | null; description?: string | null; time: number },
      address: string,
      now: number,
    ): number {
      let id = findHost({ ...identity, hostname: undefined }) ?? findHostByAnyName(vm);
      if (id === undefined) {
        id = Number(
          insertHost.run({ hostname: identity.hostname ?? vm, machine_id: null, instance_id: identity.instance_id ?? null, vmid: null, ips: '[]', now, address }).lastInsertRowid,
        );
      } else {
        updateHostLight.run({ id, hostname: identity.hostname ?? null, instance_id: identity.instance_id ?? null, now, address });
      }
      if (report.source === 'phone_home') registerHost.run({ id, now });
      insertCloudInit.run({ host_id: id, source: report.source, name: report.name, event_type: report.event_type ?? null, result: report.result ?? null, description: report.description ?? null, time: report.time, now });
      return id;
    },
  };

  function findHostByAnyName(vm: string): number | undefined {
    return findHost({ hostname: vm, instance_id: vm, machine_id: vm, vmid: /^\d+$/.test(vm) ? Number(vm) : undefined });
  }
}

export type IngestStore = ReturnType<typeof createIngestStore>;
