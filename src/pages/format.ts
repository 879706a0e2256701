/** Small formatters shared by the pages; all return plain text (escaped where interpolated). */
import type { HostSummary } from '../protocol/api.js';
import type { HostStatus, RunOutcome, TaskChange } from '../protocol/status.js';
import { html, type Html } from './html.js';
import { ago } from './relative-time.js';

/** Problems first: what an operator must look at sorts to the top of the fleet. */
export const statusOrder: readonly HostStatus[] = [
  'failed',
  'boot-failed',
  'pull-failed',
  'missing',
  'out-of-sync',
  'stale',
  'stopped',
  'running',
  'booting',
  'never-reported',
  'checked-in',
  'succeeded',
];

export const statusLabel: Record<HostStatus, string> = {
  failed: 'failed',
  'boot-failed': 'boot failed',
  'pull-failed': 'pull failed',
  missing: 'missing',
  'out-of-sync': 'out of sync',
  stale: 'stale',
  stopped: 'stopped',
  running: 'running',
  booting: 'booting',
  'never-reported': 'never reported',
  'checked-in': 'checked in',
  succeeded: 'succeeded',
};

/** `1.2 s`, `3 min 4 s`, `2 h 5 min`: durations at the precision a person reads them. */
export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s - m * 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** `2026-11-26 08:00:03 UTC`: one unambiguous absolute form for titles and detail lists. */
export function absolute(iso: string): string {
  return iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC');
}

/** A <time> element with relative text and the absolute time on hover; data-ago lets the script refresh it. */
export function timeAgo(iso: string | null | undefined, now: number): Html {
  if (!iso) return html`<span class="muted">—</span>`;
  return html`<time datetime="${iso}" title="${absolute(iso)}" data-ago>${ago(iso, now)}</time>`;
}

export function badge(status: string): Html {
  return html`<span class="badge s-${status}">${(statusLabel as Record<string, string>)[status] ?? status}</span>`;
}

export function shortCommit(sha: string | null | undefined): string {
  return sha ? sha.slice(0, 8) : '—';
}

/** The most specific identity of a host, so a link to it finds this host and not a namesake. */
export function hostKey(h: Pick<HostSummary, 'machine_id' | 'instance_id' | 'hostname'>): string {
  return h.machine_id ?? h.instance_id ?? h.hostname;
}

/** A run's outcome as a badge (nothing while it runs): changed, unchanged, or pending in check mode. */
export function outcomeBadge(outcome: RunOutcome | null | undefined): Html {
  return outcome ? html`<span class="badge o-${outcome}" title="outcome">${outcome}</span>` : html``;
}

/** A changed task's classification as a tag. */
export function changeTag(change: TaskChange | null | undefined): Html {
  return change ? html`<span class="badge c-${change}" title="why it changed (docs/drift.md)">${change}</span>` : html``;
}

/** `2 corrective · 1 repeated`: drift at a glance; intentional changes are the expected kind and come last. */
export function driftSummary(d: Record<TaskChange, number>): Html {
  const parts = (['corrective', 'repeated', 'intentional'] as const).filter((c) => d[c] > 0);
  if (parts.length === 0) return html`<span class="muted">none</span>`;
  return html`<span class="drift">${parts.map((c, i) => html`${i > 0 ? ' · ' : ''}<span class="c-${c}"><span class="drift-n">${d[c]}</span> ${c}</span>`)}</span>`;
}
