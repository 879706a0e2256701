import { afterEach, describe, expect, it } from 'vitest';
import { PAGE_CSP } from '../../src/routes/pages.js';
import { host, makeApp, post, runEvents, type TestApp } from '../helper.js';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const get = (url: string, headers: Record<string, string> = {}) => t!.app.inject({ method: 'GET', url, headers });
const named = (hostname: string) => host({ hostname, machine_id: undefined });
const statusesInOrder = (body: string) => [...body.matchAll(/<tr class="s-[^"]+" data-status="([^"]+)"/g)].map((m) => m[1]);
let now = Date.now();
const clock = () => now;

/** One host in every status: stale needs the clock moved past the stale timeout after its last event. */
async function seedMixed(): Promise<{ failedRun: string }> {
  const stale = runEvents({ host: named('stale-01') });
  await post(t!.app, stale.started());
  now += 2 * 3600_000;
  const ok = runEvents({ host: named('ok-01') });
  await post(t!.app, { events: [ok.started(), ok.task('changed'), ok.finished()] });
  const bad = runEvents({ host: named('bad-01') });
  await post(t!.app, {
    events: [
      bad.started(),
      bad.task('ok', 'Install nginx'),
      bad.task('failed', 'Start postgres', 'Job for postgresql.service failed'),
      bad.finished(1),
    ],
  });
  const busy = runEvents({ host: named('busy-01') });
  await post(t!.app, { events: [busy.started(), busy.task()] });
  await t!.app.inject({
    method: 'POST',
    url: '/cloud-init/new-01/phone-home',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: 'instance_id=iid-new-01&hostname=new-01',
  });
  return { failedRun: bad.runId };
}

describe('fleet page', () => {
  it('shows how to connect a VM while no host has reported', async () => {
    t = await makeApp();
    const res = await get('/', { host: 'receiver.lab:9191' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['content-security-policy']).toBe(PAGE_CSP);
    expect(res.body).toContain('No hosts have reported yet');
    expect(res.body).toContain('callbacks_enabled = webhook_status');
    expect(res.body).toContain('WEBHOOK_URL=http://receiver.lab:9191');
  });

  it('counts by status and lists problems first', async () => {
    now = Date.now();
    t = await makeApp({}, clock);
    await seedMixed();
    const res = await get('/');
    expect(statusesInOrder(res.body)).toEqual(['failed', 'stale', 'running', 'booting', 'succeeded']);
    expect(res.body).toMatch(/class="count s-failed"[^>]*>failed <b>1<\/b>/);
    expect(res.body).toMatch(/>all <b>5<\/b>/);
    expect(res.body).toContain('<a href="/ui/hosts/iid-new-01">new-01</a>');
  });

  it('filters by status and identity from query parameters, without script', async () => {
    now = Date.now();
    t = await makeApp({}, clock);
    await seedMixed();
    expect(statusesInOrder((await get('/?status=failed&q=')).body)).toEqual(['failed']);
    expect(statusesInOrder((await get('/?status=&q=iid-new-01')).body)).toEqual(['booting']);
    const none = await get('/?q=nothing-like-this');
    expect(none.body).toContain('No host matches this filter');
    expect(none.body).toContain('value="nothing-like-this"');
    const bad = await get('/?status=broken');
    expect(bad.statusCode).toBe(400);
    expect(bad.headers['content-type']).toMatch(/^text\/html/);
  });
});

describe('host and run pages', () => {
  it('shows a host timeline of runs and cloud-init events, newest first', async () => {
    t = await makeApp();
    const report = {
      name: 'modules-final',
      event_type: 'finish',
      result: 'FAIL',
      description: 'final stage',
      timestamp: Date.now() / 1000 - 3600,
    };
    await t.app.inject({ method: 'POST', url: '/cloud-init/web-01/events', payload: JSON.stringify(report) });
    const r = runEvents({ host: host({ hostname: 'web-01', machine_id: undefined, vmid: 101 }) });
    await post(t.app, { events: [r.started(), r.finished()] });
    const res = await get('/ui/hosts/101');
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('<dt>VMID</dt><dd>101</dd>');
    const run = res.body.indexOf(`/ui/runs/${r.runId}`);
    const cloudInit = res.body.indexOf('modules-final');
    expect(run).toBeGreaterThan(0);
    expect(cloudInit).toBeGreaterThan(run);
    expect(res.body).toContain('href="/hosts/web-01"');
  });

  it('shows a run with play headings, the failed message open and JSON links', async () => {
    now = Date.now();
    t = await makeApp({}, clock);
    const { failedRun } = await seedMixed();
    const res = await get(`/ui/runs/${failedRun}`);
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('<h2>Configure</h2>');
    expect(res.body).toMatch(/<details class="msg" open><summary>message<\/summary><pre>Job for postgresql.service failed<\/pre>/);
    expect(res.body).toContain(`href="/runs/${failedRun}"`);
    expect(res.body).toContain('href="/hosts/bad-01"');
    expect(res.body.indexOf('Install nginx')).toBeLessThan(res.body.indexOf('Start postgres'));
    expect(res.body.match(/<svg class="bar"/g)).toHaveLength(2);
  });

  it('answers unknown hosts, runs and pages with a 404 page', async () => {
    t = await makeApp();
    for (const url of ['/ui/hosts/nobody', '/ui/runs/7d2c3a1e-9b8f-4e6d-a5c4-3b2a1f0e9d8c', '/ui/runs/not-a-uuid', '/ui/elsewhere']) {
      const res = await get(url);
      expect(res.statusCode, url).toBe(404);
      expect(res.headers['content-type'], url).toBe('text/html; charset=utf-8');
      expect(res.body, url).toContain('<h1>Not found</h1>');
    }
    // The API keeps its JSON errors.
    expect((await get('/hosts/nobody')).json()).toMatchObject({ code: 'NOT_FOUND' });
  });

  it('shows markup in host and task names as text', async () => {
    t = await makeApp();
    const evil = '<img src=x onerror=alert(1)>';
    const r = runEvents({ host: named(evil) });
    await post(t.app, {
      events: [r.started(), r.task('failed', '</script><script>alert(1)</script>', '<b onmouseover=alert(1)>x</b>'), r.finished(1)],
    });
    for (const url of [
      '/',
      `/ui/hosts/${encodeURIComponent(evil)}`,
      `/ui/runs/${r.runId}`,
      `/ui/hosts/${encodeURIComponent('"><svg onload=alert(1)>')}`,
    ]) {
      const body = (await get(url)).body;
      expect(body, url).not.toMatch(/<img|<script>alert|<b onmouseover|<svg onload/);
    }
    expect((await get(`/ui/runs/${r.runId}`)).body).toContain('&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;');
  });
});

describe('assets', () => {
  it('serves versioned CSS and JS that the pages link', async () => {
    t = await makeApp();
    const page = (await get('/')).body;
    for (const href of [...page.matchAll(/(?:href|src)="(\/ui\/assets\/[^"]+)"/g)].map((m) => m[1]!)) {
      const res = await get(href.replaceAll('&amp;', '&'));
      expect(res.statusCode, href).toBe(200);
      expect(res.headers['cache-control']).toContain('immutable');
    }
    expect((await get('/ui/assets/app.css')).headers['cache-control']).toBe('no-cache');
    expect((await get('/ui/assets/secrets.txt')).statusCode).toBe(404);
    expect((await get('/ui/assets/constructor')).statusCode).toBe(404);
  });
});
