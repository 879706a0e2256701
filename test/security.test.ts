import { randomBytes, randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { secretKey, sign } from '../src/ingest/signature.js';
import { makeApp, post, runEvents, type TestApp } from './helper.js';
import { cookieValue } from '../src/auth/read-credential.js';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const newSecret = () => `whsec_${randomBytes(32).toString('base64')}`;

function signed(secret: string, body: string, at = Math.floor(Date.now() / 1000)) {
  const id = `msg_${randomUUID()}`;
  return { 'webhook-id': id, 'webhook-timestamp': String(at), 'webhook-signature': `v1,${sign(secretKey(secret), id, at, body)}` };
}

describe('Standard Webhooks signatures', () => {
  it('accepts a signed delivery, with either of two secrets during a rotation', async () => {
    const [oldSecret, newOne] = [newSecret(), newSecret()];
    t = await makeApp({ secrets: [oldSecret, newOne] });
    for (const s of [oldSecret, newOne]) {
      const body = JSON.stringify(runEvents().started());
      const res = await post(t.app, body, signed(s, body));
      expect(res.statusCode, res.body).toBe(200);
    }
  });

  it('rejects unsigned, wrongly signed, replayed and tampered deliveries with 401', async () => {
    const secret = newSecret();
    t = await makeApp({ secrets: [secret] });
    const body = JSON.stringify(runEvents().started());
    const tenMinutesAgo = Math.floor(Date.now() / 1000) - 600;
    const cases: Array<[string, Record<string, string>, string, RegExp]> = [
      ['unsigned', {}, body, /missing webhook-id/],
      ['wrong secret', signed(newSecret(), body), body, /no valid v1 signature/],
      ['old timestamp', signed(secret, body, tenMinutesAgo), body, /outside the ±5 minute window/],
      ['future timestamp', signed(secret, body, tenMinutesAgo + 1200), body, /outside the ±5 minute window/],
      ['tampered body', signed(secret, body), body.replace('site.yml', 'evil.yml'), /no valid v1 signature/],
      ['garbage signature', { ...signed(secret, body), 'webhook-signature': 'v1,!!!' }, body, /no valid v1 signature/],
    ];
    for (const [name, headers, payload, message] of cases) {
      const res = await post(t.app, payload, headers);
      expect(res.statusCode, name).toBe(401);
      expect(res.json().code).toBe(name.includes('timestamp') ? 'TIMESTAMP_OUT_OF_WINDOW' : 'BAD_SIGNATURE');
      expect(res.json().message, name).toMatch(message);
    }
    expect(t.db.prepare('SELECT count(*) FROM events').pluck().get()).toBe(0);
    const metrics = (await t.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/webhook_deliveries_rejected_total\{reason="unauthorized"\} 6/);
    expect(metrics).not.toContain(secret.slice(6, 20));
  });
});

describe('read token', () => {
  it('guards the read API and /metrics but not ingest or health', async () => {
    const token = 'read-token-0123456789abcdef';
    t = await makeApp({ readToken: token });
    for (const url of ['/hosts', '/runs', '/metrics', '/hosts/x', '/hosts/x/wait?timeout=0']) {
      const denied = await t.app.inject({ method: 'GET', url });
      expect(denied.statusCode, url).toBe(401);
      expect(denied.json().code).toBe('UNAUTHORIZED');
      const wrong = await t.app.inject({ method: 'GET', url, headers: { authorization: 'Bearer nope' } });
      expect(wrong.statusCode, url).toBe(401);
      const ok = await t.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
      expect([200, 202, 404], url).toContain(ok.statusCode);
    }
    // The status page's sign-in cookie also opens the JSON API its links point to.
    const cookie = `webhook_read=${cookieValue(token)}`;
    expect((await t.app.inject({ method: 'GET', url: '/hosts', headers: { cookie } })).statusCode).toBe(200);
    expect((await t.app.inject({ method: 'GET', url: '/hosts', headers: { cookie: 'webhook_read=forged' } })).statusCode).toBe(401);
    expect((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expect((await post(t.app, runEvents().started())).statusCode).toBe(200);
  });
});

describe('rate limit', () => {
  it('answers 429 with Retry-After per source address', async () => {
    t = await makeApp({ rateLimitPerMinute: 5 });
    const codes: number[] = [];
    let retryAfter: string | undefined;
    for (let i = 0; i < 7; i++) {
      const res = await post(t.app, runEvents().started());
      codes.push(res.statusCode);
      if (res.statusCode === 429) retryAfter = String(res.headers['retry-after']);
    }
    expect(codes).toEqual([200, 200, 200, 200, 200, 429, 429]);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    // Another source still gets through.
    const other = await t.app.inject({
      method: 'POST',
      url: '/webhook',
      remoteAddress: '10.0.0.9',
      payload: JSON.stringify(runEvents().started()),
    });
    expect(other.statusCode).toBe(200);
  });
});

describe('source address and proxies', () => {
  const fromProxy = (app: TestApp['app']) =>
    app.inject({
      method: 'POST',
      url: '/webhook',
      remoteAddress: '10.0.0.1',
      headers: { 'x-forwarded-for': '10.1.2.3' },
      payload: JSON.stringify(runEvents().started()),
    });

  it('ignores X-Forwarded-For unless the proxy is trusted', async () => {
    t = await makeApp();
    await fromProxy(t.app);
    expect(t.db.prepare('SELECT last_address FROM hosts').pluck().get()).toBe('10.0.0.1');
  });

  it('records the client address behind a trusted proxy', async () => {
    t = await makeApp({ trustProxy: ['10.0.0.1'] });
    await fromProxy(t.app);
    expect(t.db.prepare('SELECT last_address FROM hosts').pluck().get()).toBe('10.1.2.3');
  });
});

describe('security headers', () => {
  it('are set on answers', async () => {
    t = await makeApp();
    const res = await t.app.inject({ method: 'GET', url: '/hosts' });
    expect(res.headers).toMatchObject({
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-store',
    });
    expect(res.headers['x-request-id']).toBeTruthy();
  });
});
