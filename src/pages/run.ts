/** The run page (`/ui/runs/:id`): tasks in order, grouped by play, with a waterfall of their timing. */
import type { RunDetail, TaskRow } from '../protocol/api.js';
import type { RunDiff } from '../protocol/history.js';
import { absolute, badge, changeTag, driftSummary, duration, outcomeBadge, shortCommit, timeAgo } from './format.js';
import { html, seg, type Html } from './html.js';
import { layout } from './layout.js';

/** Width of the waterfall's coordinate system; the SVG stretches it to the column. */
const W = 1000;
const TICKS = 4;

interface Axis {
  t0: number;
  span: number;
}

/**
 * Task events carry their end time and duration, so a bar runs from end - duration to end.
 * The axis covers the run from its start to its last known moment, all by the VM's clock
 * (last_event_at is the receiver's clock, so it is left out).
 */
function axisOf(run: RunDetail): Axis {
  const t0 = Date.parse(run.started_at);
  let end = Math.max(run.duration_ms ?? 0, run.finished_at ? Date.parse(run.finished_at) - t0 : 0);
  for (const t of run.task_results) end = Math.max(end, Date.parse(t.time) - t0);
  return { t0, span: Math.max(end, 1) };
}

// Bars are SVG attributes, not inline styles, so the page's CSP needs no 'unsafe-inline'.
function bar(t: TaskRow, axis: Axis): Html {
  const end = Math.min(Math.max(Date.parse(t.time) - axis.t0, 0), axis.span);
  const start = Math.max(end - t.duration_ms, 0);
  const x = Math.round((start / axis.span) * W);
  const width = Math.max(Math.round(((end - start) / axis.span) * W), 3);
  return html`<svg class="bar" viewBox="0 0 ${W} 10" preserveAspectRatio="none" role="img"
 aria-label="${duration(start)} to ${duration(end)} into the run"><rect class="b-${t.status}" x="${Math.min(x, W - width)}" y="0" width="${width}" height="10"/></svg>`;
}

function axisLabels(axis: Axis): Html {
  const labels = Array.from({ length: TICKS + 1 }, (_, i) => html`<span>${duration(Math.round((axis.span * i) / TICKS))}</span>`);
  return html`<div class="axis" aria-hidden="true">${labels}</div>`;
}

function message(t: TaskRow): Html {
  if (t.no_log) return html`<div class="muted">output hidden by no_log</div>`;
  if (!t.message) return html``;
  // A failure's message is the reason to open the page: shown expanded, others one click away.
  const open = t.status === 'failed' || t.status === 'unreachable';
  return html`<details class="msg"${open ? html` open` : ''}><summary>message</summary><pre>${t.message}</pre></details>`;
}

/** `index` is the task's place in the run; the id lets the page script keep a message open across updates. */
function taskRow(t: TaskRow, index: number, axis: Axis): Html {
  return html`<tr class="t-${t.status}" id="task-${index}">
<td class="num muted">${t.seq}</td>
<th scope="row" class="task"><span class="name">${t.task}</span> <span class="muted">${t.action}${t.target && t.target !== 'localhost' ? html` on ${t.target}` : ''}</span>${message(t)}</th>
<td><span class="badge t-${t.status}">${t.status}</span> ${changeTag(t.change)}</td>
<td class="num">${duration(t.duration_ms)}</td>
<td class="wf">${bar(t, axis)}</td>
</tr>`;
}

/** Consecutive tasks of one play form a section; a play that comes back starts a new one. */
interface PlayGroup {
  play: string;
  first: number;
  tasks: TaskRow[];
}

function byPlay(tasks: readonly TaskRow[]): PlayGroup[] {
  const groups: PlayGroup[] = [];
  tasks.forEach((t, i) => {
    const last = groups[groups.length - 1];
    if (last && last.play === t.play) last.tasks.push(t);
    else groups.push({ play: t.play, first: i, tasks: [t] });
  });
  return groups;
}

function playSection(group: PlayGroup, axis: Axis): Html {
  return html`<section class="play">
<h2>${group.play === '' ? 'Unnamed play' : group.play}</h2>
<div class="scroll"><table class="tasks">
<thead><tr><th scope="col" class="num">#</th><th scope="col">Task</th><th scope="col">Status</th><th scope="col" class="num">Duration</th>
<th scope="col" class="wf">Time into the run${axisLabels(axis)}</th></tr></thead>
<tbody>${group.tasks.map((t, i) => taskRow(t, group.first + i, axis))}</tbody>
</table></div>
</section>`;
}

function facts(run: RunDetail, hostKey: string, now: number): Html {
  const f = (label: string, value: Html | string | number | null | undefined) =>
    html`<div><dt>${label}</dt><dd>${value === null || value === undefined || value === '' ? html`<span class="muted">—</span>` : value}</dd></div>`;
  const t = run.tasks;
  return html`<dl class="facts">
${f('Host', html`<a href="/ui/hosts/${seg(hostKey)}">${run.hostname}</a>`)}
${f('Playbook', run.playbook)}
${f('Repository', run.repo_url)}
${f('Commit', run.commit ? html`<code title="${run.commit}">${shortCommit(run.commit)}</code>` : null)}
${f('Started', html`${timeAgo(run.started_at, now)} <span class="muted">(${absolute(run.started_at)})</span>`)}
${f('Finished', run.finished_at ? absolute(run.finished_at) : null)}
${f('Duration', duration(run.duration_ms))}
${f('Exit code', run.exit_code)}
${f('Tasks', `${t.total}: ${t.ok} ok, ${t.changed} changed, ${t.failed} failed, ${t.unreachable} unreachable, ${t.skipped} skipped, ${t.rescued} rescued, ${t.ignored} ignored`)}
${f('Drift', run.outcome ? driftSummary(run.drift) : null)}
${f('Ansible', run.ansible_version ? `${run.ansible_version}${run.check_mode ? ' (check mode)' : ''}` : null)}
${f('Reported from', run.source_address)}
</dl>`;
}

const label = (t: { task: string; occurrence: number }) =>
  html`${t.task}${t.occurrence > 1 ? html` <span class="muted">#${t.occurrence}</span>` : ''}`;

/** What differs from the host's previous run: commit, tasks whose status changed, tasks new or gone. */
function diffSection(d: RunDiff | undefined): Html {
  if (!d || d.against === null) return html``;
  const items = [
    ...d.status_changed.map(
      (t) => html`<li>${label(t)}: <span class="badge t-${t.from}">${t.from}</span> → <span class="badge t-${t.to}">${t.to}</span></li>`,
    ),
    ...d.new.map((t) => html`<li>${label(t)}: new, <span class="badge t-${t.status}">${t.status}</span></li>`),
    ...d.gone.map((t) => html`<li>${label(t)}: gone (was <span class="badge t-${t.status}">${t.status}</span>)</li>`),
  ];
  return html`<section class="diff" id="diff">
<h2>Compared with <a href="/ui/runs/${seg(d.against)}">the previous run</a></h2>
<p>${d.commit.changed ? html`Commit <code>${shortCommit(d.commit.from)}</code> → <code>${shortCommit(d.commit.to)}</code>` : html`Same commit <code>${shortCommit(d.commit.to)}</code>`}${items.length === 0 ? ' · every task as before' : ''}</p>
${items.length > 0 ? html`<ul>${items}</ul>` : ''}
</section>`;
}

/** `hostKey` is the identity the host page link uses (the run only knows the hostname). */
export function runPage(run: RunDetail, hostKey: string, hostId: number, now: number, diff?: RunDiff): Html {
  const axis = axisOf(run);
  const groups = byPlay(run.task_results);
  const body = html`<div id="live">
<h1>Run on ${run.hostname} ${badge(run.status)} ${outcomeBadge(run.outcome)}</h1>
<p class="muted"><code>${run.run_id}</code></p>
${facts(run, hostKey, now)}
<p class="links"><a href="/runs/${seg(run.run_id)}">Run JSON</a> · <a href="/runs/${seg(run.run_id)}/diff">Diff JSON</a> · <a href="/hosts/${seg(hostKey)}">Host JSON</a></p>
${diffSection(diff)}
${groups.length === 0 ? html`<p class="empty">No task results yet.</p>` : groups.map((g) => playSection(g, axis))}
</div>`;
  return layout({ title: `Run on ${run.hostname}`, body, live: { kind: 'host', hostId }, api: `/runs/${seg(run.run_id)}` });
}
