/**
 * The one builder of the fleet answer (GET /hosts, and the fleet page, which parses it): SQLite
 * builds each host's JSON (json_object, in C) and the stored JSON columns are spliced in as they
 * are, instead of parsing them into objects and stringifying them again. The shape is the API's
 * fleetSchema; a test parses answers with it.
 */
import type { Db } from '../db/database.js';
import type { HostsQuery } from '../protocol/api.js';
import { taskStatuses } from '../protocol/events.js';
import { hostStatuses, taskChanges, type HostStatus } from '../protocol/status.js';
import { hostLastSeenSql, hostStatusSql, runStatusSql, STATUS_JOINS, type StatusParams } from './status-sql.js';

const iso = (col: string) => `strftime('%Y-%m-%dT%H:%M:%fZ', ${col} / 1000.0, 'unixepoch')`;
const isoOrNull = (col: string) => `CASE WHEN ${col} IS NULL THEN NULL ELSE ${iso(col)} END`;

const RUN_JSON = `json_object(
  'run_id', r.run_id, 'host_id', r.host_id, 'hostname', h.hostname, 'status', ${runStatusSql('r')},
  'started_at', ${iso('r.started_at')}, 'finished_at', ${isoOrNull('r.finished_at')},
  'last_event_at', ${iso('r.last_event_at')}, 'playbook', r.playbook, 'repo_url', r.repo_url,
  'commit', r.commit_sha, 'ansible_version', r.ansible_version,
  'check_mode', CASE WHEN r.check_mode IS NULL THEN NULL WHEN r.check_mode THEN json('true') ELSE json('false') END,
  'result', r.result, 'exit_code', r.exit_code, 'duration_ms', r.duration_ms, 'stats', json(r.stats),
  'tasks', json_object('total', r.tasks_total, ${taskStatuses.map((s) => `'${s}', r.tasks_${s}`).join(', ')}),
  'outcome', r.outcome, 'drift', json_object(${taskChanges.map((c) => `'${c}', r.drift_${c}`).join(', ')}),
  'source_address', r.source_address)`;

const HOST_JSON = `json_object(
  'id', h.id, 'hostname', h.hostname, 'machine_id', h.machine_id, 'instance_id', h.instance_id,
  'vmid', h.vmid, 'ips', json(h.ips), 'status', ${hostStatusSql()},
  'first_seen_at', ${iso('h.first_seen_at')}, 'last_seen_at', ${iso(hostLastSeenSql('h', 'r'))},
  'last_address', h.last_address, 'registered_at', ${isoOrNull('h.registered_at')},
  'drift', json_object(${taskChanges.map((c) => `'${c}', h.drift_${c}`).join(', ')}, 'last_corrective_at', ${isoOrNull('h.last_corrective_at')}),
  'latest_run', CASE WHEN r.id IS NULL THEN NULL ELSE ${RUN_JSON} END)`;

interface FleetRow {
  json: string;
  status: HostStatus;
  outcome: string | null;
  hostname: string;
  machine_id: string | null;
  instance_id: string | null;
  vmid: number | null;
  ips: string;
}

/** True when a search term matches any of the host's identities. */
function identityMatches(
  h: { hostname: string; machine_id: string | null; instance_id: string | null; vmid: number | null; ips: readonly string[] },
  q: string,
): boolean {
  return (
    h.hostname.toLowerCase().includes(q) ||
    h.machine_id === q ||
    h.instance_id?.toLowerCase() === q ||
    String(h.vmid) === q ||
    h.ips.includes(q)
  );
}

export function createFleetJson(db: Db, params: () => StatusParams) {
  const rows = db.prepare<StatusParams, FleetRow>(
    `SELECT ${HOST_JSON} AS json, ${hostStatusSql()} AS status, r.outcome,
       h.hostname, h.machine_id, h.instance_id, h.vmid, h.ips
     FROM hosts h ${STATUS_JOINS} ORDER BY h.hostname, h.id`,
  );
  /** The GET /hosts answer as a JSON string. */
  return (query: HostsQuery = {}): string => {
    const all = rows.all(params());
    const byStatus = Object.fromEntries(hostStatuses.map((s) => [s, 0])) as Record<HostStatus, number>;
    const q = query.q?.toLowerCase();
    const shown: string[] = [];
    for (const row of all) {
      byStatus[row.status] += 1;
      if (query.status !== undefined && row.status !== query.status) continue;
      if (query.outcome !== undefined && row.outcome !== query.outcome) continue;
      if (q !== undefined && !identityMatches({ ...row, ips: JSON.parse(row.ips) as string[] }, q)) continue;
      shown.push(row.json);
    }
    return `{"total":${all.length},"by_status":${JSON.stringify(byStatus)},"hosts":[${shown.join(',')}]}`;
  };
}
