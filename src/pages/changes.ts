/** The changes page (`/ui/changes`): what changed across the fleet in a window, and why (docs/drift.md). */
import type { ChangesPage } from '../protocol/history.js';
import { taskChanges, type TaskChange } from '../protocol/status.js';
import { changeTag, duration, shortCommit, timeAgo } from './format.js';
import { html, query, seg, type Html } from './html.js';
import { layout } from './layout.js';

export interface ChangesView {
  /** Hours back from now the page covers. */
  hours: number;
  host?: string | undefined;
  change?: TaskChange | undefined;
  cursor?: string | undefined;
  now: number;
}

const WINDOWS = [1, 24, 24 * 7, 24 * 30];

function rows(page: ChangesPage, now: number): Html {
  return html`<div class="scroll"><table class="hosts">
<caption class="sr-only">Changed tasks, the latest recorded first</caption>
<thead><tr><th scope="col">When</th><th scope="col">Host</th><th scope="col">Task</th><th scope="col">Why</th><th scope="col" class="num">Duration</th><th scope="col">Commit</th></tr></thead>
<tbody>
${page.changes.map(
  (c) => html`<tr>
<td><a href="/ui/runs/${seg(c.run_id)}">${timeAgo(c.recorded_at, now)}</a></td>
<th scope="row"><a href="/ui/hosts/${seg(c.hostname)}">${c.hostname}</a></th>
<td>${c.task}${c.occurrence > 1 ? html` <span class="muted">#${c.occurrence}</span>` : ''} <span class="muted">${c.play} · ${c.action}</span></td>
<td>${changeTag(c.change)}</td>
<td class="num">${duration(c.duration_ms)}</td>
<td><code>${shortCommit(c.commit)}</code></td>
</tr>`,
)}
</tbody>
</table></div>`;
}

export function changesPage(page: ChangesPage, view: ChangesView): Html {
  const windows = WINDOWS.map(
    (h) =>
      html`<option value="${h}"${view.hours === h ? html` selected` : ''}>${h < 24 ? `${h} hour` : h === 24 ? '24 hours' : `${h / 24} days`}</option>`,
  );
  const changes = taskChanges.map((c) => html`<option value="${c}"${view.change === c ? html` selected` : ''}>${c}</option>`);
  const params = { hours: String(view.hours), host: view.host, change: view.change };
  const body = html`<h1>What changed in the last ${view.hours === 24 ? '24 hours' : view.hours < 24 ? `${view.hours} hour` : `${view.hours / 24} days`}</h1>
<form class="filters" method="get" action="/ui/changes" role="search">
<label>Window <select name="hours">${windows}</select></label>
<label>Why <select name="change"><option value="">all</option>${changes}</select></label>
<label class="grow">Host <input type="search" name="host" value="${view.host ?? ''}" maxlength="253" autocomplete="off" placeholder="hostname, IP, machine-id, instance-id or VMID"></label>
<button type="submit">Filter</button>
</form>
<div id="live">
<p class="muted">Corrective: the VM drifted and the run put it back. Repeated: changed on every one of the last three runs on the same commit (not idempotent). Intentional: the commit changed.</p>
${page.changes.length === 0 ? html`<p class="empty">No task changed in this window.</p>` : rows(page, view.now)}
${page.next_cursor ? html`<p><a href="/ui/changes${query({ ...params, cursor: page.next_cursor })}">Older changes</a></p>` : ''}
</div>`;
  return layout({
    title: 'Changes',
    body,
    live: { kind: 'fleet' },
    api: `/changes${query({ since: new Date(view.now - view.hours * 3_600_000).toISOString(), host: view.host, change: view.change })}`,
  });
}
