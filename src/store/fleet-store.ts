/**
 * The expected fleet: VMs declared with PUT /fleet or discovered from Proxmox, each bound to a host
 * row (a placeholder until the VM reports), and every host's derived status from one SQL rule.
 */
import type { Db } from '../db/database.js';
import type { DeclaredVm, DiscoveredVm } from '../protocol/fleet.js';
import type { HostStatus } from '../protocol/status.js';
import { hostLastSeenLookupSql, hostStatusSql, STATUS_JOINS, type StatusParams } from './status-sql.js';

export { statusParams, type StatusParams } from './status-sql.js';

/** What advice and status need of a host, from one row. */
export interface FactsColumns {
  host_id: number | null;
  status: HostStatus;
  run_id: string | null;
  run_exit_code: number | null;
  run_failed_tasks: number | null;
  run_last_event_at: number | null;
  run_finished_at: number | null;
  checkin_result: string | null;
  checkin_exit_code: number | null;
  checkin_error: string | null;
  checkin_repo_url: string | null;
  checkin_interval_seconds: number | null;
  checkin_received_at: number | null;
  cloud_init_failed_name: string | null;
  cloud_init_last_at: number | null;
}

export interface ExpectedRow extends FactsColumns {
  id: number;
  name: string;
  vmid: number | null;
  ip: string | null;
  labels: string;
  declared: number;
  discovered: number;
  node: string | null;
  power: string | null;
  expected_since: number;
}

export interface CheckinRow {
  event_id: string;
  run_id: string;
  result: string;
  exit_code: number;
  commit_before: string | null;
  commit_after: string | null;
  duration_ms: number;
  interval_seconds: number | null;
  repo_url: string | null;
  playbook: string | null;
  error: string | null;
  time: number;
  received_at: number;
}

const FACTS = `r.run_id, r.exit_code AS run_exit_code, r.tasks_failed AS run_failed_tasks,
  r.last_event_at AS run_last_event_at, r.finished_at AS run_finished_at, c.result AS checkin_result,
  c.exit_code AS checkin_exit_code, c.error AS checkin_error, c.repo_url AS checkin_repo_url,
  c.interval_seconds AS checkin_interval_seconds, c.received_at AS checkin_received_at,
  h.cloud_init_failed_name, h.cloud_init_last_at`;

/** Which source replaces its part of the expected set. */
type Source = 'declared' | 'discovered';

export function createFleetStore(db: Db) {
  const status = hostStatusSql();
  const expectedRows = db.prepare<StatusParams, ExpectedRow>(
    `SELECT e.id, e.name, e.vmid, e.ip, e.labels, e.declared, e.discovered, e.node, e.power, e.expected_since,
       e.host_id, CASE WHEN h.id IS NULL THEN
         CASE WHEN e.power = 'stopped' THEN 'stopped' WHEN e.expected_since <= @missing_before THEN 'missing'
           ELSE 'never-reported' END
       ELSE ${status} END AS status, ${FACTS}
     FROM expected_vms e LEFT JOIN hosts h ON h.id = e.host_id LEFT JOIN runs r ON r.run_id = h.latest_run_id
       LEFT JOIN checkins c ON c.event_id = h.last_checkin_id
     ORDER BY e.name, e.id`,
  );
  const hostFacts = db.prepare<
    StatusParams & { id: number },
    FactsColumns & { name: string; vmid: number | null; node: string | null; expected_since: number | null }
  >(
    `SELECT h.id AS host_id, h.hostname AS name, h.vmid, e.node, e.expected_since, ${status} AS status, ${FACTS}
     FROM hosts h ${STATUS_JOINS} LEFT JOIN checkins c ON c.event_id = h.last_checkin_id WHERE h.id = @id`,
  );
  const checkinsOfHost = db.prepare<[number, number], CheckinRow>(
    `SELECT event_id, run_id, result, exit_code, commit_before, commit_after, duration_ms, interval_seconds, repo_url,
       playbook, error, time, received_at FROM checkins WHERE host_id = ? ORDER BY received_at DESC LIMIT ?`,
  );

  // Writes of the expected set.
  const clearFlag = {
    declared: db.prepare('UPDATE expected_vms SET declared = 0'),
    discovered: db.prepare('UPDATE expected_vms SET discovered = 0'),
  };
  const expectedByVmid = db.prepare<[number], { id: number }>('SELECT id FROM expected_vms WHERE vmid = ?');
  const expectedByName = db.prepare<{ name: string; vmid: number | null }, { id: number }>(
    `SELECT id FROM expected_vms WHERE name = @name AND (vmid IS NULL OR @vmid IS NULL OR vmid = @vmid)
     ORDER BY id LIMIT 1`,
  );
  const updateDeclared = db.prepare(
    `UPDATE expected_vms SET name = @name, vmid = coalesce(@vmid, vmid), ip = @ip, labels = @labels, declared = 1
     WHERE id = @id`,
  );
  const updateDiscovered = db.prepare(
    `UPDATE expected_vms SET name = CASE WHEN declared = 1 THEN name ELSE @name END, vmid = @vmid, node = @node,
       power = @power, discovered = 1 WHERE id = @id`,
  );
  const insertExpected = db.prepare(
    `INSERT INTO expected_vms (name, vmid, ip, labels, declared, discovered, node, power, expected_since)
     VALUES (@name, @vmid, @ip, @labels, @declared, @discovered, @node, @power, @now)`,
  );
  const unbound = db.prepare<[], { id: number; name: string; vmid: number | null; ip: string | null; expected_since: number }>(
    'SELECT id, name, vmid, ip, expected_since FROM expected_vms WHERE host_id IS NULL',
  );
  const bind = db.prepare('UPDATE expected_vms SET host_id = @host_id WHERE id = @id');
  const freeHost = {
    vmid: db.prepare<[number], { id: number }>(
      `SELECT id FROM hosts WHERE vmid = ? AND NOT EXISTS (SELECT 1 FROM expected_vms e WHERE e.host_id = hosts.id)
       ORDER BY ${hostLastSeenLookupSql('hosts')} DESC LIMIT 1`,
    ),
    name: db.prepare<[string], { id: number }>(
      `SELECT id FROM hosts WHERE hostname = ? AND NOT EXISTS (SELECT 1 FROM expected_vms e WHERE e.host_id = hosts.id)
       ORDER BY ${hostLastSeenLookupSql('hosts')} DESC LIMIT 1`,
    ),
    ip: db.prepare<[string], { id: number }>(
      `SELECT h.id FROM host_ips i JOIN hosts h ON h.id = i.host_id
       WHERE i.ip = ? AND NOT EXISTS (SELECT 1 FROM expected_vms e WHERE e.host_id = h.id)
       ORDER BY ${hostLastSeenLookupSql('h')} DESC LIMIT 1`,
    ),
  };
  const insertPlaceholder = db.prepare(
    `INSERT INTO hosts (hostname, vmid, ips, first_seen_at, last_seen_at, placeholder)
     VALUES (@name, @vmid, @ips, @now, @now, 1)`,
  );
  const insertIp = db.prepare('INSERT OR IGNORE INTO host_ips (ip, host_id) VALUES (?, ?)');
  // VMs no longer expected: their placeholders go (nothing was ever heard), real hosts stay.
  const dropPlaceholders = db.prepare(
    `DELETE FROM hosts WHERE placeholder = 1 AND id IN
       (SELECT host_id FROM expected_vms WHERE declared = 0 AND discovered = 0 AND host_id IS NOT NULL)`,
  );
  const dropUnexpected = db.prepare('DELETE FROM expected_vms WHERE declared = 0 AND discovered = 0');

  /** An existing host not yet bound to an expected VM, else a new placeholder host. */
  function hostFor(vm: { name: string; vmid: number | null; ip: string | null }, now: number): number {
    const found =
      (vm.vmid !== null ? freeHost.vmid.get(vm.vmid)?.id : undefined) ??
      freeHost.name.get(vm.name)?.id ??
      (vm.ip !== null ? freeHost.ip.get(vm.ip)?.id : undefined);
    if (found !== undefined) return found;
    const ips = vm.ip === null ? [] : [vm.ip];
    const id = Number(insertPlaceholder.run({ name: vm.name, vmid: vm.vmid, ips: JSON.stringify(ips), now }).lastInsertRowid);
    for (const ip of ips) insertIp.run(ip, id);
    return id;
  }

  function findExpected(name: string, vmid: number | null): number | undefined {
    return (vmid !== null ? expectedByVmid.get(vmid)?.id : undefined) ?? expectedByName.get({ name, vmid })?.id;
  }

  /** Gives every expected VM a host row, then forgets the VMs neither source names any more. */
  function settle(now: number): void {
    for (const row of unbound.all()) bind.run({ id: row.id, host_id: hostFor(row, now) });
    dropPlaceholders.run();
    dropUnexpected.run();
  }

  const replace = (source: Source, apply: (now: number) => void) =>
    db.transaction((now: number) => {
      clearFlag[source].run();
      apply(now);
      settle(now);
    });

  const declare = (vms: DeclaredVm[]) =>
    replace('declared', (now) => {
      for (const vm of vms) {
        const row = { name: vm.name, vmid: vm.vmid ?? null, ip: vm.ip ?? null, labels: JSON.stringify(vm.labels ?? {}) };
        const id = findExpected(row.name, row.vmid);
        if (id !== undefined) updateDeclared.run({ ...row, id });
        else insertExpected.run({ ...row, declared: 1, discovered: 0, node: null, power: null, now });
      }
    });

  const discover = (vms: DiscoveredVm[]) =>
    replace('discovered', (now) => {
      for (const vm of vms) {
        const row = { name: vm.name, vmid: vm.vmid, node: vm.node, power: vm.status };
        const id = findExpected(row.name, row.vmid);
        if (id !== undefined) updateDiscovered.run({ ...row, id });
        else insertExpected.run({ ...row, ip: null, labels: '{}', declared: 0, discovered: 1, now });
      }
    });

  return {
    /** Replaces the declared VMs (PUT /fleet); one transaction. */
    declare(vms: DeclaredVm[], now: number): void {
      declare(vms).immediate(now);
    },
    /** Replaces the VMs Proxmox discovery found; one transaction. */
    discover(vms: DiscoveredVm[], now: number): void {
      discover(vms).immediate(now);
    },
    expected(params: StatusParams): ExpectedRow[] {
      return expectedRows.all(params);
    },
    hostFacts(id: number, params: StatusParams) {
      return hostFacts.get({ ...params, id });
    },
    checkinsOfHost(hostId: number, limit: number): CheckinRow[] {
      return checkinsOfHost.all(hostId, limit);
    },
  };
}

export type FleetStore = ReturnType<typeof createFleetStore>;
