/**
 * GET /fleet and GET /fleet/wait answers, built from the fleet store's rows. Coverage counts the
 * expected VMs that reported a result: a finished run, or a check-in that ran or found nothing to do.
 */
import type { Config } from '../config.js';
import type { ExpectedVm, FleetAnswer, FleetWaitAnswer, FleetWaitVm } from '../protocol/fleet.js';
import type { QueryStore } from '../store/query-store.js';
import type { CheckinRow, ExpectedRow, FactsColumns, FleetStore, StatusParams } from '../store/fleet-store.js';
import type { CheckinSummary, HostDetail } from '../protocol/api.js';
import { failedHostStatuses, hostStatuses, okHostStatuses, type HostStatus } from '../protocol/status.js';
import { adviceFor, type Advice } from './advice.js';
import { isoTime } from '../protocol/time.js';

const iso = isoTime;
/** Check-ins a host's detail carries; its timeline shows them beside runs. */
const CHECKINS_SHOWN = 20;

type Facts = FactsColumns & { name: string; vmid: number | null; node: string | null; expected_since: number | null };

export function createFleetView(config: Config, fleet: FleetStore, query: QueryStore, params: (since?: number) => StatusParams) {
  function advise(f: Facts, now: number): Advice {
    return adviceFor({
      status: f.status,
      name: f.name,
      vmid: f.vmid,
      node: f.node,
      expectedSince: f.expected_since,
      graceMs: config.expectGraceMs,
      runId: f.run_id,
      runExitCode: f.run_exit_code,
      runFailedTasks: f.run_failed_tasks,
      lastEventAt: f.run_last_event_at,
      checkin:
        f.checkin_result === null
          ? null
          : {
              result: f.checkin_result,
              exit_code: f.checkin_exit_code ?? 0,
              error: f.checkin_error,
              repo_url: f.checkin_repo_url,
              interval_seconds: f.checkin_interval_seconds,
              received_at: f.checkin_received_at ?? 0,
            },
      cloudInitFailedName: f.cloud_init_failed_name,
      cloudInitLastAt: f.cloud_init_last_at,
      now,
    });
  }

  /** A VM reported a result: a finished run, or a check-in that ran or found nothing to do. */
  const reported = (r: FactsColumns) => r.run_finished_at !== null || r.checkin_result === 'ran' || r.checkin_result === 'skipped';

  function toExpectedVm(r: ExpectedRow, now: number): ExpectedVm {
    const sources: ExpectedVm['sources'] = [];
    if (r.declared) sources.push('declared');
    if (r.discovered) sources.push('proxmox');
    return {
      name: r.name,
      vmid: r.vmid,
      ip: r.ip,
      labels: JSON.parse(r.labels) as Record<string, string>,
      sources,
      node: r.node,
      power: r.power,
      expected_since: iso(r.expected_since),
      host_id: r.host_id,
      status: r.status,
      reported: reported(r),
      ...advise(r, now),
    };
  }

  function fleetAnswer(status?: HostStatus): FleetAnswer {
    const p = params();
    const vms = fleet.expected(p).map((r) => toExpectedVm(r, p.now));
    const byStatus = Object.fromEntries(hostStatuses.map((s) => [s, 0])) as Record<HostStatus, number>;
    for (const vm of vms) byStatus[vm.status] += 1;
    const done = vms.filter((v) => v.reported).length;
    return {
      expected: vms.length,
      reported: done,
      coverage: vms.length === 0 ? 1 : done / vms.length,
      by_status: byStatus,
      vms: status === undefined ? vms : vms.filter((v) => v.status === status),
    };
  }

  function waitVm(vm: string, f: Facts | undefined, now: number): FleetWaitVm {
    if (f === undefined) {
      return {
        vm,
        status: 'never-reported',
        done: false,
        ok: false,
        summary: 'not known to the receiver yet',
        next_step: 'Wait for its first report, or declare it with PUT /fleet.',
        host_id: null,
        run_id: null,
      };
    }
    const failed = failedHostStatuses.includes(f.status);
    const ok = okHostStatuses.includes(f.status);
    return { vm, status: f.status, done: failed || ok, ok, ...advise(f, now), host_id: f.host_id, run_id: f.run_id };
  }

  /** One known host's wait state (GET /hosts/:host/wait has already found it). */
  function hostVerdict(vm: string, hostId: number, since: number): FleetWaitVm {
    const p = params(since);
    return waitVm(vm, fleet.hostFacts(hostId, p), p.now);
  }

  /** The state of the VMs a wait names (or every expected VM), and whether the wait is over. */
  function waitState(vms: string[] | 'all', keepGoing: boolean, since: number): Omit<FleetWaitAnswer, 'waited_ms'> {
    const p = params(since);
    const states =
      vms === 'all'
        ? fleet.expected(p).map((r) => waitVm(r.name, r, p.now))
        : vms.map((vm) => {
            const id = query.findHostId(vm);
            return waitVm(vm, id === undefined ? undefined : fleet.hostFacts(id, p), p.now);
          });
    const anyFailed = states.some((s) => s.done && !s.ok);
    const allDone = states.every((s) => s.done);
    const state = allDone || (anyFailed && !keepGoing) ? (anyFailed ? 'failed' : 'succeeded') : 'pending';
    return { state, vms: states };
  }

  const toCheckin = (c: CheckinRow): CheckinSummary => ({ ...c, time: iso(c.time), received_at: iso(c.received_at) });

  /** GET /hosts/:host and the host page: the stored detail, its check-ins and what to do next. */
  function hostDetail(identity: string): HostDetail | undefined {
    const base = query.hostDetail(identity);
    if (base === undefined) return undefined;
    const p = params();
    const facts = fleet.hostFacts(base.id, p);
    const advice = facts === undefined ? { summary: '', next_step: '' } : advise(facts, p.now);
    return {
      ...base,
      checkins: fleet.checkinsOfHost(base.id, CHECKINS_SHOWN).map(toCheckin),
      expected_since: facts?.expected_since == null ? null : iso(facts.expected_since),
      ...advice,
    };
  }

  return { fleetAnswer, waitState, hostVerdict, hostDetail };
}

export type FleetView = ReturnType<typeof createFleetView>;

/** The text/plain wait answer: one line per VM, then the state; what a shell script prints. */
export function waitAnswerText(a: FleetWaitAnswer): string {
  const lines = a.vms.map((v) => `${v.vm} ${v.status} ${v.summary}`.replace(/[\r\n]+/g, ' '));
  return `${lines.join('\n')}${lines.length > 0 ? '\n' : ''}state=${a.state} waited_ms=${a.waited_ms}\n`;
}
