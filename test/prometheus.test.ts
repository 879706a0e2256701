/**
 * The alert rules and the Grafana dashboard: promtool checks and unit-tests the rules, parses
 * every dashboard query, and each metric they name must be one the receiver really exports.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProxmoxDiscovery } from '../src/fleet/proxmox-discovery.js';
import { createLogger } from '../src/logger.js';
import { host, makeApp, post, runEvents, tempDir, type TestApp } from './helper.js';
import { requireTool } from './tools.js';

const ROOT = join(import.meta.dirname, '..');
const ALERTS = join(ROOT, 'prometheus', 'alerts.yml');
const DASHBOARD = join(ROOT, 'grafana', 'webhook-dashboard.json');

interface Panel {
  title: string;
  targets?: Array<{ expr: string }>;
}

const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Panel[] };
const dashboardExprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
// Every expr in alerts.yml fits on one line, so no YAML parser is needed to find them.
const alertExprs = [...readFileSync(ALERTS, 'utf8').matchAll(/^\s*expr:\s*(.+)$/gm)].map((m) => m[1]!.trim());

/** Grafana's variables replaced by what Prometheus itself would accept. */
const concrete = (expr: string) => expr.replaceAll('$__rate_interval', '5m').replaceAll('$job', 'webhook');

const PROMQL_WORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset']);

/** Metric names in a PromQL expression: identifiers that are not functions, keywords or label names. */
function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // label values
    .replace(/\{[^}]*\}/g, '') // label matchers
    .replace(/\[[^\]]*\]/g, '') // ranges
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ''); // grouping labels
  const names: string[] = [];
  for (const m of stripped.matchAll(/[A-Za-z_:][\w:]*/g)) {
    const after = stripped.slice(m.index + m[0].length).trimStart();
    if (after.startsWith('(') || PROMQL_WORDS.has(m[0])) continue;
    names.push(m[0]);
  }
  return names;
}

describe('prometheus/alerts.yml', () => {
  it('passes promtool check rules', () => {
    if (!requireTool('promtool')) return;
    const out = execFileSync('promtool', ['check', 'rules', ALERTS], { encoding: 'utf8' });
    expect(out).toMatch(/SUCCESS: 11 rules found/);
  });

  it('passes its promtool unit tests', () => {
    if (!requireTool('promtool')) return;
    // Relative rule_files resolve against the test file's directory.
    const out = execFileSync('promtool', ['test', 'rules', 'alerts.test.yml'], { cwd: join(ROOT, 'prometheus'), encoding: 'utf8' });
    expect(out).toMatch(/SUCCESS/);
  });

  it('gives every alert a summary and a description', () => {
    const text = readFileSync(ALERTS, 'utf8');
    const alerts = text.split(/^\s*- alert: /m).slice(1);
    expect(alerts).toHaveLength(11);
    for (const a of alerts) expect(a, a.split('\n')[0]).toMatch(/summary: .+[\s\S]*description: /);
  });
});

describe('grafana/webhook-dashboard.json', () => {
  it('has the panels operators look for', () => {
    const titles = dashboard.panels.map((p) => p.title);
    for (const t of [
      'Fleet status over time',
      'Runs per hour by outcome',
      'Ingest rate',
      'Ingest latency',
      'Rejected deliveries',
      'Stale runs',
    ]) {
      expect(titles).toContain(t);
    }
    const ids = (dashboard.panels as unknown as Array<{ id: number }>).map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('uses only queries Prometheus can parse', () => {
    if (!requireTool('promtool')) return;
    // promtool has no offline query checker; recording rules get their PromQL parsed by check rules.
    const rules = dashboardExprs.map((e, i) => `      - record: dashboard:query_${i}\n        expr: ${JSON.stringify(concrete(e))}`);
    const dir = tempDir('dashboard-rules-');
    const file = join(dir, 'rules.yml');
    writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n${rules.join('\n')}\n`);
    const out = execFileSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
    rmSync(dir, { recursive: true, force: true });
    expect(out).toMatch(new RegExp(`SUCCESS: ${dashboardExprs.length} rules found`));
  });
});

describe('metric names in alerts and dashboard', () => {
  let t: TestApp;
  let exported: Set<string>;

  beforeAll(async () => {
    t = await makeApp();
    // Enough traffic that every labelled family has series: runs of each outcome, a stale
    // candidate, a refused delivery and a cloud-init report.
    const ok = runEvents({ host: host({ hostname: 'ok-vm', machine_id: undefined }) });
    const bad = runEvents({ host: host({ hostname: 'bad-vm', machine_id: undefined }) });
    const open = runEvents({ host: host({ hostname: 'busy-vm', machine_id: undefined }) });
    await post(t.app, { events: [ok.started(), ok.task('changed'), ok.finished()] });
    await post(t.app, { events: [bad.started(), bad.task('failed'), bad.finished(1)] });
    await post(t.app, { events: [open.started()] });
    await post(t.app, '{not json');
    await t.app.inject({
      method: 'POST',
      url: '/cloud-init/new-vm/events',
      payload: JSON.stringify({ name: 'init', event_type: 'start', timestamp: 1 }),
    });
    // Discovery's metrics exist only when it is configured: register them, without polling.
    createProxmoxDiscovery({
      config: {
        url: 'https://127.0.0.1:1',
        tokenId: 'u@pve!t',
        tokenSecret: 'not-used',
        ca: undefined,
        caFile: undefined,
        tag: undefined,
        intervalMs: 60_000,
      },
      logger: createLogger('silent'),
      registry: t.app.ctx.metrics.registry,
      onInventory: () => undefined,
    });
    const text = (await t.app.inject({ method: 'GET', url: '/metrics' })).body;
    exported = new Set();
    for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      const [, name, type] = m as unknown as [string, string, string];
      exported.add(name);
      // Histograms (and summaries) are queried through their generated series.
      if (type === 'histogram' || type === 'summary') for (const s of ['_bucket', '_sum', '_count']) exported.add(name + s);
    }
  });
  afterAll(async () => t.close());

  it('finds names in PromQL', () => {
    expect(metricNames('sum by (le) (rate(a_bucket{job="x",le!="1"}[5m])) / on(job) b or vector(0)')).toEqual(['a_bucket', 'b']);
    expect(metricNames('time() - c_seconds > 2 * 3600')).toEqual(['c_seconds']);
  });

  it('every metric named exists in /metrics (besides Prometheus own up)', () => {
    const used = new Set([...dashboardExprs, ...alertExprs].flatMap((e) => metricNames(concrete(e))));
    expect([...used]).toEqual(
      expect.arrayContaining([
        'up',
        'webhook_host_last_run_status',
        'webhook_ingest_duration_seconds_bucket',
        'webhook_deliveries_rejected_total',
      ]),
    );
    const missing = [...used].filter((n) => n !== 'up' && !exported.has(n));
    expect(missing).toEqual([]);
  });

  it('every labelled family used has a series after some traffic', async () => {
    const text = (await t.app.inject({ method: 'GET', url: '/metrics' })).body;
    for (const line of [
      'webhook_runs_finished_total{status="failed"}',
      'webhook_deliveries_rejected_total{reason="invalid_json"}',
      'webhook_host_last_run_status{host="bad-vm"} 1',
      'webhook_runs{status="stale"}',
    ]) {
      expect(text).toContain(line);
    }
  });
});
