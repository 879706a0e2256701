/**
 * GET /hosts/:host/wait in text/plain, for scripts/wait-for-webhook.sh: the receiver writes what
 * the script prints, so the script is a thin curl client. The first line is `status=<state>`
 * (succeeded, failed, pending, or the host status that ends a wait without a run); the rest is the
 * progress line (pending) or the summary (finished).
 */
import type { RunDetail, TaskRow, WaitAnswer } from '../protocol/api.js';
import { taskStatuses } from '../protocol/events.js';

/** `1.2s`, `3m04s`, `1h02m03s`: durations as CI logs show them. */
export function shortDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '-';
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const total = Math.round(ms / 1000);
  const [h, m, s] = [Math.floor(total / 3600), Math.floor((total % 3600) / 60), total % 60];
  const pad = (n: number) => String(n).padStart(2, '0');
  return h > 0 ? `${h}h${pad(m)}m${pad(s)}s` : `${m}m${pad(s)}s`;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** One line on how far the wait got, for stderr while it goes on. */
export function progressLine(answer: WaitAnswer, vm: string, since: string | undefined): string {
  const { host, run } = answer;
  if (host === null) return `${vm} has not reported yet`;
  const name = host.hostname || vm;
  if (run === null) return `${name} is known (${host.status}), no run started ${since ? `since ${since} ` : ''}yet`;
  const t = run.tasks;
  const bad = (['failed', 'unreachable'] as const).filter((k) => t[k] > 0).map((k) => `${t[k]} ${k}`);
  return `${name}: run ${run.run_id.slice(0, 8)} ${run.status}, ${plural(t.total, 'task')} done${bad.length > 0 ? ` (${bad.join(', ')})` : ''}`;
}

function failedTasks(tasks: readonly TaskRow[] | undefined, result: string | null): string[] {
  if (tasks === undefined) return ["failed tasks: (could not fetch the run's tasks; see details above)"];
  const failed = tasks.filter((t) => t.status === 'failed' || t.status === 'unreachable');
  if (failed.length === 0) return [`failed tasks: none reported (result ${result ?? '-'})`];
  const lines = ['failed tasks:'];
  for (const task of failed) {
    lines.push(`  - [${task.play}] ${task.task} (${task.action}) on ${task.target ?? '-'}: ${task.status}`);
    if (task.no_log) {
      lines.push('      (output hidden by no_log)');
      continue;
    }
    const message = (task.message ?? '').split('\n');
    const shown = message.length === 1 && message[0] === '' ? [] : message;
    for (const line of shown.slice(0, 20)) lines.push(`      ${line}`);
    if (shown.length > 20) lines.push(`      ... (${shown.length - 20} more lines)`);
  }
  return lines;
}

/** The finished run's summary: host, run, status, playbook, commit, times, counts and failed tasks. */
export function runSummaryLines(answer: WaitAnswer, baseUrl: string, detail?: RunDetail): string[] {
  const run = answer.run!;
  const host = answer.host;
  const who = [...(host?.vmid ? [String(host.vmid)] : []), ...(host?.ips ?? []).slice(0, 3)];
  const t = run.tasks;
  const rows: Array<[string, string | number]> = [
    ['host', `${host?.hostname || run.hostname || '?'}${who.length > 0 ? ` (${who.join(', ')})` : ''}`],
    ['run', run.run_id],
    ['status', run.status],
    ['playbook', run.playbook || '-'],
    ['commit', run.commit || '-'],
    ['started', run.started_at],
    ['finished', run.finished_at || '-'],
    ['duration', shortDuration(run.duration_ms)],
    ['tasks', `${t.total} total: ${taskStatuses.map((k) => `${t[k]} ${k}`).join(', ')}`],
  ];
  if (run.exit_code !== null) rows.push(['exit code', run.exit_code]);
  for (const [target, stats] of Object.entries(run.stats ?? {}).sort(([a], [b]) => (a < b ? -1 : 1))) {
    rows.push(['recap', `${target} ${taskStatuses.map((k) => `${k}=${stats[k]}`).join(' ')}`]);
  }
  rows.push(['details', `${baseUrl}/ui/runs/${run.run_id}`]);
  const lines = rows.map(([key, value]) => `${`${key}:`.padEnd(10)} ${value}`);
  return run.status === 'failed' ? [...lines, ...failedTasks(detail?.task_results, run.result)] : lines;
}

/** The whole text answer of one wait. */
export function waitText(answer: WaitAnswer, vm: string, since: string | undefined, baseUrl: string, detail?: RunDetail): string {
  let status: string;
  let lines: string[];
  if (answer.finished && answer.run) {
    status = answer.run.status;
    lines = runSummaryLines(answer, baseUrl, detail);
  } else if (answer.status !== undefined) {
    // No run will come: the boot or the pull failed, or the VM is missing.
    status = answer.status;
    lines = [`${answer.host?.hostname || vm} ${answer.status}: ${answer.summary ?? ''}`, `next: ${answer.next_step ?? ''}`];
  } else {
    status = 'pending';
    lines = [progressLine(answer, vm, since)];
  }
  return `status=${status}\n${lines.join('\n')}\n`;
}
