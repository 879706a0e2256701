/**
 * What is known about a VM and what to check next, in the words of the troubleshooting steps
 * operators follow. One function, used by GET /fleet, GET /hosts/:host, /fleet/wait and the pages.
 */
import type { HostStatus } from '../protocol/status.js';
import { isoTime } from '../protocol/time.js';

export interface AdviceFacts {
  status: HostStatus;
  name: string;
  vmid: number | null;
  node: string | null;
  expectedSince: number | null;
  graceMs: number;
  runId: string | null;
  runExitCode: number | null;
  runFailedTasks: number | null;
  lastEventAt: number | null;
  checkin: {
    result: string;
    exit_code: number;
    error: string | null;
    repo_url: string | null;
    interval_seconds: number | null;
    received_at: number;
  } | null;
  cloudInitFailedName: string | null;
  cloudInitLastAt: number | null;
  now: number;
}

export interface Advice {
  summary: string;
  next_step: string;
}

const iso = isoTime;
const minutes = (ms: number) => `${Math.max(0, Math.round(ms / 60_000))} min`;

/** The first non-empty line of git's or ansible-pull's error text. */
export function firstLine(text: string | null): string {
  const line = (text ?? '')
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l.length > 0);
  return line === undefined ? '' : line.length > 200 ? `${line.slice(0, 197)}...` : line;
}

const console = (f: AdviceFacts) =>
  f.vmid === null ? 'the VM console' : `the VM console (qm terminal ${f.vmid}, or the Proxmox web console)`;

function pullFailed(f: AdviceFacts): Advice {
  const c = f.checkin;
  const what = c?.result === 'start_failed' ? 'could not start the playbook' : 'could not get the playbook repository';
  const error = firstLine(c?.error ?? null);
  return {
    summary: `ansible-pull ${what} (exit ${c?.exit_code ?? '?'})${error ? `: ${error}` : ''}`,
    next_step:
      c?.result === 'start_failed'
        ? 'Check that the playbook exists in the repository and passes `ansible-playbook --syntax-check`; on the VM: `journalctl -u ansible-pull-webhook`.'
        : `Check the repository URL${c?.repo_url ? ` (${c.repo_url})` : ''} and its credentials (deploy key or token): on the VM run \`git ls-remote <url>\`; then \`journalctl -u ansible-pull-webhook\`.`,
  };
}

/** Summary and next step for one VM or host. */
export function adviceFor(f: AdviceFacts): Advice {
  switch (f.status) {
    case 'stopped':
      return {
        summary: `Proxmox reports the VM powered off${f.node ? ` on node ${f.node}` : ''}`,
        next_step: f.vmid === null ? 'Start the VM.' : `Start it: \`qm start ${f.vmid}\`.`,
      };
    case 'missing':
      return {
        summary: `expected since ${iso(f.expectedSince ?? f.now)}; nothing heard from it (no cloud-init report, no check-in, no run)`,
        next_step: `Check ${console(f)}: did it boot and get an address? On the VM: \`cloud-init status --long\`, and that it can reach the receiver (\`curl <webhook_url>/healthz\`).`,
      };
    case 'never-reported':
      return f.expectedSince === null
        ? { summary: 'known, but nothing to show yet', next_step: 'Wait for its first report.' }
        : {
            summary: `expected since ${iso(f.expectedSince)}; no report yet`,
            next_step: `Wait: it becomes missing after ${minutes(f.expectedSince + f.graceMs - f.now)} without a report.`,
          };
    case 'booting':
      return {
        summary: `cloud-init is running${f.cloudInitLastAt ? ` (last report ${iso(f.cloudInitLastAt)})` : ''}; no ansible-pull run yet`,
        next_step: 'If it stays here: on the VM, `cloud-init status --long` and /var/log/cloud-init-output.log.',
      };
    case 'boot-failed':
      return {
        summary: `cloud-init reported FAIL in ${f.cloudInitFailedName ?? 'a stage'}; no run started after it`,
        next_step: 'On the VM: `cloud-init status --long`, then /var/log/cloud-init.log and /var/log/cloud-init-output.log.',
      };
    case 'pull-failed':
      return pullFailed(f);
    case 'checked-in':
      return { summary: 'checked in: the repository had not changed, so the playbook did not run', next_step: 'Nothing to do.' };
    case 'out-of-sync': {
      const last = f.checkin?.received_at;
      return {
        summary: `no check-in since ${last ? iso(last) : 'never'} although it pulls every ${f.checkin?.interval_seconds ?? '?'} s`,
        next_step: 'On the VM: `systemctl status ansible-pull-webhook.timer` and `journalctl -u ansible-pull-webhook`.',
      };
    }
    case 'running':
      return { summary: `a run is in progress (last event ${iso(f.lastEventAt ?? f.now)})`, next_step: 'Wait for it to finish.' };
    case 'stale':
      return {
        summary: `the run has sent nothing since ${iso(f.lastEventAt ?? f.now)}`,
        next_step:
          "Check the VM is up; on the VM: `journalctl -u ansible-pull-webhook` or /var/log/cloud-init-output.log for ansible-pull's output.",
      };
    case 'failed':
      return {
        summary: `the latest run failed (exit ${f.runExitCode ?? '?'}, ${f.runFailedTasks ?? 0} failed task(s))`,
        next_step: f.runId === null ? "See the run's failed tasks." : `See the failed tasks: GET /runs/${f.runId} or /ui/runs/${f.runId}.`,
      };
    case 'succeeded':
      return { summary: 'the latest run succeeded', next_step: 'Nothing to do.' };
  }
}
