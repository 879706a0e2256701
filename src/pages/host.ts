/** The host page (`/ui/hosts/:host`): identities, then runs and cloud-init events, newest first. */
import { HOST_RUNS_SHOWN, type CheckinSummary, type CloudInitEvent, type HostDetail, type RunSummary } from '../protocol/api.js';
import { absolute, badge, driftSummary, duration, hostKey, outcomeBadge, shortCommit, timeAgo } from './format.js';
import { html, query, seg, type Html } from './html.js';
import { layout } from './layout.js';

type Entry = { at: string; run: RunSummary } | { at: string; event: CloudInitEvent } | { at: string; checkin: CheckinSummary };

const checkinWords: Record<string, string> = {
  ran: 'ran the playbook',
  skipped: 'repository unchanged, playbook skipped',
  pull_failed: 'could not get the repository',
  start_failed: 'could not start the playbook',
};

function checkinEntry(c: CheckinSummary, now: number): Html {
  const failed = c.result === 'pull_failed' || c.result === 'start_failed';
  return html`<li class="entry ${failed ? 's-failed' : 's-cloud'}">
<div class="when">${timeAgo(c.time, now)}</div>
<div class="what"><span class="tag">ansible-pull check-in</span> <b>${checkinWords[c.result] ?? c.result}</b> <span class="muted">exit ${c.exit_code} · ${duration(c.duration_ms)}${c.commit_after ? html` · commit <code>${shortCommit(c.commit_after)}</code>` : ''}</span>
${c.error ? html`<pre class="error-text">${c.error}</pre>` : ''}</div>
</li>`;
}

function fact(label: string, value: Html | string | number | null | undefined): Html {
  return html`<div><dt>${label}</dt><dd>${value === null || value === undefined || value === '' ? html`<span class="muted">—</span>` : value}</dd></div>`;
}

function runEntry(r: RunSummary, now: number): Html {
  const t = r.tasks;
  return html`<li class="entry s-${r.status}">
<div class="when">${timeAgo(r.started_at, now)}</div>
<div class="what"><a href="/ui/runs/${seg(r.run_id)}">Run of ${r.playbook ?? 'unknown playbook'}</a> ${badge(r.status)} ${outcomeBadge(r.outcome)}${r.check_mode ? html` <span class="tag">check mode</span>` : ''}
<div class="muted">${duration(r.duration_ms)} · ${t.total} tasks: ${t.ok} ok, ${t.changed} changed, ${t.failed + t.unreachable} failed, ${t.skipped} skipped · commit <code>${shortCommit(r.commit)}</code>${r.drift.corrective + r.drift.repeated + r.drift.intentional > 0 ? html` · drift ${driftSummary(r.drift)}` : ''}</div></div>
</li>`;
}

function cloudInitEntry(e: CloudInitEvent, now: number): Html {
  const cls = e.result === 'FAIL' ? 's-failed' : e.result === 'WARN' ? 's-stale' : 's-cloud';
  return html`<li class="entry ${cls}">
<div class="when">${timeAgo(e.time, now)}</div>
<div class="what"><span class="tag">cloud-init ${e.source === 'phone_home' ? 'phone home' : 'report'}</span> <b>${e.name}</b>${e.event_type ? html` ${e.event_type}` : ''}${e.result ? html` <span class="result">${e.result}</span>` : ''}
${e.description ? html`<div class="muted">${e.description}</div>` : ''}</div>
</li>`;
}

/** Runs and cloud-init events merged by time, newest first (ISO strings in UTC sort as times). */
export function timeline(host: HostDetail): Entry[] {
  const entries: Entry[] = [
    ...host.runs.map((run) => ({ at: run.started_at, run })),
    ...host.cloud_init.map((event) => ({ at: event.time, event })),
    ...host.checkins.map((checkin) => ({ at: checkin.time, checkin })),
  ];
  return entries.sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
}

export function hostPage(host: HostDetail, now: number): Html {
  const key = hostKey(host);
  const entries = timeline(host);
  const body = html`<div id="live">
<h1>${host.hostname} ${badge(host.status)}</h1>
<p class="advice" id="advice">${host.summary}${host.next_step ? html`<br><b>Next:</b> ${host.next_step}` : ''}</p>
<dl class="facts">
${fact('Hostname', host.hostname)}
${fact('machine-id', host.machine_id ? html`<code>${host.machine_id}</code>` : null)}
${fact('Instance id', host.instance_id)}
${fact('VMID', host.vmid)}
${fact('IP addresses', host.ips.join(', '))}
${fact('Last address', host.last_address)}
${fact('First seen', absolute(host.first_seen_at))}
${fact('Last seen', html`${timeAgo(host.last_seen_at, now)} <span class="muted">(${absolute(host.last_seen_at)})</span>`)}
${fact('Registered by cloud-init', host.registered_at ? absolute(host.registered_at) : null)}
${fact('Drift since first seen', html`${driftSummary(host.drift)}${host.drift.last_corrective_at ? html` <span class="muted">· last corrected ${timeAgo(host.drift.last_corrective_at, now)}</span>` : ''} <a href="/ui/changes${query({ host: key })}">changes</a>`)}
${fact('Expected since', host.expected_since ? absolute(host.expected_since) : null)}
</dl>
<p class="links"><a href="/hosts/${seg(key)}">Host JSON</a> · <a href="/runs${query({ host: key })}">All runs JSON</a></p>
<h2>Timeline</h2>
${
  entries.length === 0
    ? html`<p class="empty">Nothing reported yet.</p>`
    : html`<ol class="timeline">${entries.map((e) => ('run' in e ? runEntry(e.run, now) : 'checkin' in e ? checkinEntry(e.checkin, now) : cloudInitEntry(e.event, now)))}</ol>
${host.runs.length >= HOST_RUNS_SHOWN ? html`<p class="muted">Only the latest ${HOST_RUNS_SHOWN} runs are shown; <a href="/runs${query({ host: key })}">the runs JSON</a> pages through all of them.</p>` : ''}`
}
</div>`;
  return layout({ title: host.hostname, body, live: { kind: 'host', hostId: host.id }, api: `/hosts/${seg(key)}` });
}
