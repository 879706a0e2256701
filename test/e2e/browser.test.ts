/**
 * The status pages in headless Chromium against a listening app: navigation, filtering, live
 * updates without reload, and hostile names shown as text. Screenshots go to test-results/.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { host, makeApp, post, runEvents, type TestApp } from '../helper.js';
import { requireTool } from '../tools.js';
import { ROOT } from './server-process.js';

const SHOTS = join(ROOT, 'test-results');
// Live updates are debounced by a second on the server; give a loaded CI machine room.
const POLL = { timeout: 10_000, interval: 100 };
const hasChromium = requireTool('chromium');
const named = (hostname: string) => host({ hostname, machine_id: undefined });

let browser: Browser;
let context: BrowserContext | undefined;
let now = Date.now();

async function listening(): Promise<{ t: TestApp; base: string }> {
  const t = await makeApp({}, () => now);
  return { t, base: await t.app.listen({ host: '127.0.0.1', port: 0 }) };
}

/** A page that records script errors and dialogs, so a test can assert there were none. */
async function open(base: string, path: string, options: Parameters<Browser['newContext']>[0] = {}) {
  context = await browser.newContext({ baseURL: base, ...options });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
  page.on('response', (r) => r.status() >= 400 && problems.push(`${r.status()} ${r.url()}`));
  page.on('dialog', (d) => {
    problems.push(`dialog: ${d.message()}`);
    void d.dismiss();
  });
  await page.goto(path);
  return { page, problems };
}

beforeAll(async () => {
  if (!hasChromium) return;
  mkdirSync(SHOTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-quic',
      '--no-first-run',
    ],
  });
});

afterEach(async () => {
  await context?.close();
  context = undefined;
});

afterAll(async () => {
  await browser?.close();
});

const rowStatuses = (page: Page) =>
  page.locator('table.hosts tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-status')));

describe.skipIf(!hasChromium)('status pages in Chromium', () => {
  let t: TestApp;
  let base: string;
  let failedRun: string;

  beforeAll(async () => {
    now = Date.now();
    ({ t, base } = await listening());
    // One host in each status; the stale one goes quiet for two hours of the app's clock.
    const stale = runEvents({ host: named('stale-01') });
    await post(t.app, { events: [stale.started(), stale.task('ok', 'Gather facts')] });
    now += 2 * 3600_000;
    for (const name of ['web-01', 'web-02', 'web-03']) {
      const ok = runEvents({
        host: host({ hostname: name, machine_id: undefined, ips: ['10.1.0.21'], vmid: 100 + Number(name.slice(-1)) }),
      });
      await post(t.app, { events: [ok.started(), ok.task('ok', 'Install nginx'), ok.task('changed', 'Write config'), ok.finished()] });
    }
    const bad = runEvents({ host: named('db-01'), start: now - 60_000 });
    failedRun = bad.runId;
    await post(t.app, {
      events: [
        bad.started(),
        bad.task('ok', 'Install postgres'),
        bad.task('changed', 'Write pg_hba.conf'),
        bad.task('failed', 'Start postgres', 'Job for postgresql.service failed because the control process exited with error code.'),
        bad.finished(1),
      ],
    });
    const busy = runEvents({ host: named('cache-01') });
    await post(t.app, { events: [busy.started(), busy.task('ok', 'Install redis')] });
    await t.app.inject({
      method: 'POST',
      url: '/cloud-init/new-01/phone-home',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'instance_id=iid-new-01&hostname=new-01',
    });
  });

  afterAll(async () => {
    await t?.close();
  });

  it('lists the fleet problems first and filters it as you type', async () => {
    const { page, problems } = await open(base, '/');
    expect(await rowStatuses(page)).toEqual(['failed', 'stale', 'running', 'booting', 'succeeded', 'succeeded', 'succeeded']);
    await expect.poll(() => page.locator('#live-state').textContent(), POLL).toBe('live');
    await page.screenshot({ path: join(SHOTS, 'fleet.png'), fullPage: true });

    await page.getByLabel('Search').fill('web');
    await expect.poll(() => rowStatuses(page), POLL).toEqual(['succeeded', 'succeeded', 'succeeded']);
    expect(page.url()).toBe(`${base}/?q=web`);
    await page.locator('select[name=status]').selectOption('failed');
    await expect.poll(() => page.locator('#shown').textContent(), POLL).toBe('Showing 0 of 7 hosts');
    await page.getByLabel('Search').fill('');
    await expect.poll(() => rowStatuses(page), POLL).toEqual(['failed']);
    expect(problems).toEqual([]);
  });

  it('opens a failed host, then its run, and shows the failed task message', async () => {
    const { page, problems } = await open(base, '/?status=failed');
    await page.getByRole('link', { name: 'db-01' }).click();
    await expect.poll(() => page.url(), POLL).toBe(`${base}/ui/hosts/db-01`);
    await expect.poll(() => page.locator('h1').textContent(), POLL).toMatch(/db-01/);
    await page.screenshot({ path: join(SHOTS, 'host.png'), fullPage: true });

    await page
      .getByRole('link', { name: /^Run of site\.yml/ })
      .first()
      .click();
    await expect.poll(() => page.url(), POLL).toBe(`${base}/ui/runs/${failedRun}`);
    const message = page.getByText('Job for postgresql.service failed because');
    expect(await message.isVisible()).toBe(true);
    expect(await page.getByRole('heading', { name: 'Configure' }).count()).toBe(1);
    expect(await page.locator('svg.bar').count()).toBe(3);
    expect(await page.getByRole('link', { name: 'Run JSON' }).getAttribute('href')).toBe(`/runs/${failedRun}`);
    await page.screenshot({ path: join(SHOTS, 'run.png'), fullPage: true });
    expect(problems).toEqual([]);
  });

  it('shows a new host without reloading the page', async () => {
    const { page, problems } = await open(base, '/');
    await expect.poll(() => page.locator('#live-state').textContent(), POLL).toBe('live');
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 42));
    const fresh = runEvents({ host: named('fresh-01') });
    await post(t.app, { events: [fresh.started(), fresh.task('failed', 'Mount data', 'no such device'), fresh.finished(1)] });
    await page.getByRole('link', { name: 'fresh-01' }).waitFor({ timeout: 10_000 });
    expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(42);
    expect((await rowStatuses(page)).slice(0, 2)).toEqual(['failed', 'failed']);
    expect(problems).toEqual([]);
  });

  it('works from the keyboard and on a phone in dark mode', async () => {
    const { page, problems } = await open(base, '/', { viewport: { width: 390, height: 844 }, colorScheme: 'dark' });
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await page.screenshot({ path: join(SHOTS, 'fleet-phone-dark.png'), fullPage: true });
    expect(problems).toEqual([]);
  });
});

describe.skipIf(!hasChromium)('hostile names in Chromium', () => {
  it('shows markup in a hostname and a task name as text, before and after a live update', async () => {
    now = Date.now();
    const { t, base } = await listening();
    try {
      const evilHost = '<img src=x onerror=alert(1)>';
      const evilTask = '</script><script>alert(2)</script>';
      const r = runEvents({ host: named(evilHost) });
      await post(t.app, { events: [r.started(), r.task('failed', evilTask, `<svg onload=alert(3)>`), r.finished(1)] });
      const injected = (page: Page) =>
        page.evaluate(() => ({
          imgs: document.querySelectorAll('img').length,
          svgOnload: document.querySelectorAll('svg[onload]').length,
          foreignScripts: [...document.scripts].filter((s) => !s.src.includes('/ui/assets/app.js')).length,
        }));
      const clean = { imgs: 0, svgOnload: 0, foreignScripts: 0 };

      const { page, problems } = await open(base, '/');
      expect(await page.getByRole('link', { name: evilHost }).textContent()).toBe(evilHost);
      expect(await injected(page)).toEqual(clean);
      await expect.poll(() => page.locator('#live-state').textContent(), POLL).toBe('live');
      // Started later than the first run, so it becomes the host's latest.
      const again = runEvents({ host: named(evilHost), start: Date.now() + 1000 });
      await post(t.app, { events: [again.started(), again.task('failed', evilTask)] });
      await expect.poll(() => page.locator('table.hosts tbody tr').first().getAttribute('data-status'), POLL).toBe('running');
      expect(await injected(page)).toEqual(clean);

      await page.getByRole('link', { name: evilHost }).click();
      await expect.poll(() => page.locator('h1').textContent(), POLL).toContain(evilHost);
      expect(await injected(page)).toEqual(clean);
      await page.goto(`/ui/runs/${r.runId}`);
      expect(await page.getByText(evilTask).count()).toBe(1);
      expect(await page.getByText('<svg onload=alert(3)>').isVisible()).toBe(true);
      expect(await injected(page)).toEqual(clean);
      expect(problems).toEqual([]);
    } finally {
      await context?.close();
      context = undefined;
      await t.close();
    }
  });
});
