/** The fleet page (`/`): counts by status, a filter form and one row per host, problems first. */
import type { Fleet, HostSummary } from '../protocol/api.js';
import { runOutcomes, type HostStatus, type RunOutcome } from '../protocol/status.js';
import { badge, driftSummary, duration, hostKey, outcomeBadge, shortCommit, statusLabel, statusOrder, timeAgo } from './format.js';
import { html, query, seg, type Html } from './html.js';
import { layout } from './layout.js';

export interface FleetView {
  status?: HostStatus | undefined;
  /** The latest run's outcome. */
  outcome?: RunOutcome | undefined;
  q?: string | undefined;
  now: number;
  /** Base URL VMs would use for this receiver, shown in the empty state. */
  receiverUrl: string;
  /** The expected fleet's coverage; no header line when nothing is expected. */
  coverage?: { expected: number; reported: number };
}

/** `38 of 40 VMs reported · 95%`: the migration's own measure, at the top of the page. */
export function coverageLine(c: { expected: number; reported: number } | undefined): Html {
  if (c === undefined || c.expected === 0) return html``;
  const percent = Math.floor((c.reported / c.expected) * 100);
  return html`<p class="coverage" id="coverage"><b>${c.reported} of ${c.expected} VMs reported</b> · ${percent}%</p>`;
}

const rank = (s: HostStatus) => statusOrder.indexOf(s);

/** Problems first; the store's hostname order is kept inside each status (sort is stable). */
function sortHosts(hosts: readonly HostSummary[]): HostSummary[] {
  return [...hosts].sort((a, b) => rank(a.status) - rank(b.status));
}

function counts(fleet: Fleet, view: FleetView): Html {
  const chip = (status: HostStatus | undefined, label: string, n: number) => html`<li><a class="count${status ? ` s-${status}` : ''}"
 href="/${query({ status, outcome: view.outcome, q: view.q })}"${view.status === status ? html` aria-current="true"` : ''}>${label} <b>${n}</b></a></li>`;
  return html`<ul class="counts" aria-label="Hosts by status">
${chip(undefined, 'all', fleet.total)}
${statusOrder.map((s) => chip(s, statusLabel[s]!, fleet.by_status[s] ?? 0))}
</ul>`;
}

function row(h: HostSummary, now: number): Html {
  const r = h.latest_run;
  const address = h.last_address ?? h.ips[0];
  const failed = r ? r.tasks.failed + r.tasks.unreachable : undefined;
  return html`<tr class="s-${h.status}" data-status="${h.status}">
<td>${badge(h.status)} ${outcomeBadge(r?.outcome)}</td>
<th scope="row"><a href="/ui/hosts/${seg(hostKey(h))}">${h.hostname}</a>${h.vmid !== null ? html` <span class="muted">#${h.vmid}</span>` : ''}</th>
<td>${r ? html`<a href="/ui/runs/${seg(r.run_id)}">${timeAgo(r.started_at, now)}</a>` : html`<span class="muted">no run</span>`}</td>
<td class="num">${duration(r?.duration_ms)}</td>
<td class="num">${r ? r.tasks.changed : '—'}</td>
<td class="num${failed ? ' bad' : ''}">${failed ?? '—'}</td>
<td title="latest run; the host's totals since first seen: ${h.drift.corrective} corrective, ${h.drift.repeated} repeated, ${h.drift.intentional} intentional">${r ? driftSummary(r.drift) : '—'}</td>
<td><code>${shortCommit(r?.commit)}</code></td>
<td>${timeAgo(h.last_seen_at, now)}</td>
<td>${address ?? '—'}</td>
</tr>`;
}

function table(hosts: HostSummary[], now: number): Html {
  return html`<div class="scroll"><table class="hosts">
<caption class="sr-only">Hosts, problems first</caption>
<thead><tr><th scope="col">Status</th><th scope="col">Host</th><th scope="col">Last run</th><th scope="col" class="num">Duration</th>
<th scope="col" class="num">Changed</th><th scope="col" class="num">Failed</th><th scope="col">Drift</th><th scope="col">Commit</th><th scope="col">Last seen</th><th scope="col">Address</th></tr></thead>
<tbody>
${hosts.map((h) => row(h, now))}
</tbody>
</table></div>`;
}

/** Shown until the first VM reports: what to put on a VM to make it appear here. */
function onboarding(receiverUrl: string): Html {
  return html`<section class="empty">
<h2>No hosts have reported yet</h2>
<p>A VM appears here when its first <code>ansible-pull</code> run reports, or when cloud-init phones home.
Put the <code>webhook_status</code> callback plugin next to the playbook and enable it in <code>ansible.cfg</code>:</p>
<pre><code>[defaults]
callbacks_enabled = webhook_status
callback_plugins = ./callback_plugins</code></pre>
<p>and point it at this receiver (in the environment of <code>ansible-pull</code>, or as <code>url</code> under <code>[callback_webhook_status]</code>):</p>
<pre><code>WEBHOOK_URL=${receiverUrl}</code></pre>
<p>The sample <code>ansible/ansible.cfg</code> in the receiver's repository lists every option.</p>
</section>`;
}

function results(fleet: Fleet, view: FleetView): Html {
  if (fleet.total === 0) return onboarding(view.receiverUrl);
  return html`${coverageLine(view.coverage)}${hostResults(fleet, view)}`;
}

function hostResults(fleet: Fleet, view: FleetView): Html {
  const hosts = sortHosts(fleet.hosts);
  const summary = html`<p class="muted" id="shown">Showing ${hosts.length} of ${fleet.total} hosts</p>`;
  if (hosts.length === 0) {
    return html`${counts(fleet, view)}${summary}<p class="empty">No host matches this filter. <a href="/">Show all hosts</a></p>`;
  }
  return html`${counts(fleet, view)}${summary}${table(hosts, view.now)}`;
}

/** The whole fleet page; the `#live` part is what the script swaps on a change. */
export function fleetPage(fleet: Fleet, view: FleetView): Html {
  const options = statusOrder.map((s) => html`<option value="${s}"${view.status === s ? html` selected` : ''}>${statusLabel[s]}</option>`);
  const body = html`<h1>Fleet</h1>
<form class="filters" method="get" action="/" role="search" id="filters">
<label>Status <select name="status"><option value="">all</option>${options}</select></label>
<label>Outcome <select name="outcome"><option value="">all</option>${runOutcomes.map(
    (o) => html`<option value="${o}"${view.outcome === o ? html` selected` : ''}>${o}</option>`,
  )}</select></label>
<label class="grow">Search <input type="search" name="q" value="${view.q ?? ''}" maxlength="253" autocomplete="off"
 placeholder="hostname, IP, machine-id, instance-id or VMID"></label>
<button type="submit">Filter</button>
</form>
<div id="live">${results(fleet, view)}</div>`;
  return layout({
    title: 'Fleet',
    body,
    live: { kind: 'fleet' },
    api: `/hosts${query({ status: view.status, outcome: view.outcome, q: view.q })}`,
  });
}
