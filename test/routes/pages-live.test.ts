/** The status pages' read token and their change stream (/events) on a real socket. */
import { get as httpGet, type IncomingMessage } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, quietFor } from '../eventually.js';
import { host, makeApp, post, runEvents, type TestApp } from '../helper.js';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const TOKEN = 'status-page-token-0123456789';
const get = (url: string, headers: Record<string, string> = {}) => t!.app.inject({ method: 'GET', url, headers });

describe('read token on pages', () => {
  it('refuses pages without the token, and never shows it', async () => {
    t = await makeApp({ readToken: TOKEN });
    for (const url of ['/', '/ui/hosts/web-01', '/?token=wrong-token-value']) {
      const res = await get(url);
      expect(res.statusCode, url).toBe(401);
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      expect(res.body).toContain('Read token needed');
      expect(res.body).not.toContain(TOKEN);
    }
    // The stylesheet and script hold nothing about the fleet; the 401 page needs them.
    expect((await get('/ui/assets/app.css')).statusCode).toBe(200);
  });

  it('accepts a bearer token', async () => {
    t = await makeApp({ readToken: TOKEN });
    expect((await get('/', { authorization: `Bearer ${TOKEN}` })).statusCode).toBe(200);
  });

  it('trades ?token= for a cookie and an address without it', async () => {
    t = await makeApp({ readToken: TOKEN });
    const res = await get(`/?status=failed&token=${TOKEN}`);
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/?status=failed');
    const cookie = String(res.headers['set-cookie']);
    expect(cookie).toMatch(/^webhook_read=[\w-]+; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Strict$/);
    expect(cookie).not.toContain(TOKEN);
    expect(res.body).not.toContain(TOKEN);
    const pair = cookie.split(';')[0]!;
    const page = await get('/?status=failed', { cookie: `other=1; ${pair}` });
    expect(page.statusCode).toBe(200);
    expect(page.body).not.toContain(TOKEN);
    expect((await get('/ui/runs/x', { cookie: pair })).statusCode).toBe(404);
    expect((await get('/', { cookie: 'webhook_read=forged' })).statusCode).toBe(401);
    const run = await get(`/ui/runs/abc?token=${TOKEN}`);
    expect(run.headers.location).toBe('/ui/runs/abc');
  });
});

/** Collects an SSE response's text as it arrives. */
function openStream(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ res: IncomingMessage; text: () => string; ended: Promise<void> }> {
  return new Promise((resolve, reject) => {
    httpGet(url, { headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      const ended = new Promise<void>((done) => res.once('close', done));
      resolve({ res, text: () => text, ended });
    }).once('error', reject);
  });
}

describe('/events', () => {
  it('sends one debounced change naming the hosts, and ends when the app closes', async () => {
    t = await makeApp();
    const base = await t.app.listen({ host: '127.0.0.1', port: 0 });
    const stream = await openStream(`${base}/events`);
    expect(stream.res.statusCode).toBe(200);
    expect(stream.res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    await eventually(() => expect(stream.text()).toContain('retry: 5000'));

    const a = runEvents({ host: host({ hostname: 'a', machine_id: undefined }) });
    const b = runEvents({ host: host({ hostname: 'b', machine_id: undefined }) });
    await Promise.all([post(t.app, a.started()), post(t.app, b.started()), post(t.app, a.task()), post(t.app, b.task())]);
    await eventually(() => expect(stream.text()).toContain('event: changed'));
    // Time for a second event, should the debounce fail to merge the commits.
    await quietFor(500);
    const events = [...stream.text().matchAll(/event: changed\ndata: (.+)\n\n/g)].map((m) => JSON.parse(m[1]!) as { hosts: number[] });
    // Four commits inside one debounce window: one event (two if the machine is very slow).
    expect(events.length).toBeLessThanOrEqual(2);
    const ids = t.db.prepare('SELECT id FROM hosts ORDER BY id').pluck().all();
    expect(new Set(events.flatMap((e) => e.hosts))).toEqual(new Set(ids));

    const started = Date.now();
    await t.app.close();
    await stream.ended;
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('needs the read token like the pages', async () => {
    t = await makeApp({ readToken: TOKEN });
    const base = await t.app.listen({ host: '127.0.0.1', port: 0 });
    const refused = await openStream(`${base}/events`);
    expect(refused.res.statusCode).toBe(401);
    const allowed = await openStream(`${base}/events`, { authorization: `Bearer ${TOKEN}` });
    expect(allowed.res.statusCode).toBe(200);
  });
});
