/**
 * src/ingest/signature.ts on its own: the Standard Webhooks test vector, key rotation on either
 * side, the ±5 minute window and every way the three headers can be malformed.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { secretKey, sign, TOLERANCE_SECONDS, verifySignature } from '../../src/ingest/signature.js';

// The vector the Standard Webhooks reference libraries test against.
const VECTOR = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};
const KEY = secretKey(VECTOR.secret);
const NOW = VECTOR.timestamp;

const headers = (over: Record<string, string | string[] | undefined> = {}) => ({
  'webhook-id': VECTOR.id,
  'webhook-timestamp': String(VECTOR.timestamp),
  'webhook-signature': VECTOR.signature,
  ...over,
});
const verify = (h: Record<string, string | string[] | undefined>, keys = [KEY], body = VECTOR.body, now = NOW) =>
  verifySignature(keys, h, body, now);

const NO_MATCH = { ok: false, reason: 'no valid v1 signature for the configured secrets' };

describe('Standard Webhooks test vector', () => {
  it('signs the vector exactly as the reference libraries do', () => {
    expect(`v1,${sign(KEY, VECTOR.id, VECTOR.timestamp, VECTOR.body)}`).toBe(VECTOR.signature);
    expect(sign(KEY, VECTOR.id, String(VECTOR.timestamp), VECTOR.body)).toBe(VECTOR.signature.slice(3));
  });

  it('reads a secret with or without the whsec_ prefix', () => {
    expect(secretKey(VECTOR.secret.slice('whsec_'.length))).toEqual(KEY);
    expect(KEY).toHaveLength(24);
  });

  it('accepts the vector, and nothing changed in id, timestamp or body', () => {
    expect(verify(headers())).toEqual({ ok: true });
    expect(verify(headers({ 'webhook-id': 'msg_other' }))).toEqual(NO_MATCH);
    expect(verify(headers({ 'webhook-timestamp': String(NOW + 1) }))).toEqual(NO_MATCH);
    expect(verify(headers(), [KEY], '{"test": 2432232315}')).toEqual(NO_MATCH);
    expect(verify(headers(), [KEY], `${VECTOR.body} `)).toEqual(NO_MATCH);
  });
});

describe('several secrets', () => {
  const other = randomBytes(32);

  it('accepts a delivery signed with any configured secret (the receiver rotating)', () => {
    expect(verify(headers(), [other, KEY])).toEqual({ ok: true });
    expect(verify(headers(), [KEY, other])).toEqual({ ok: true });
    expect(verify(headers(), [other])).toEqual(NO_MATCH);
    expect(verify(headers(), [])).toEqual(NO_MATCH);
  });

  it('accepts any one good v1 signature among several (the sender rotating)', () => {
    const stale = `v1,${sign(other, VECTOR.id, NOW, VECTOR.body)}`;
    expect(verify(headers({ 'webhook-signature': `${stale} ${VECTOR.signature}` }))).toEqual({ ok: true });
    expect(verify(headers({ 'webhook-signature': `${VECTOR.signature} ${stale}` }))).toEqual({ ok: true });
    expect(verify(headers({ 'webhook-signature': `v1,bm9wZQ== ${VECTOR.signature}` }))).toEqual({ ok: true });
    expect(verify(headers({ 'webhook-signature': stale }))).toEqual(NO_MATCH);
  });

  it('ignores signatures of other schemes', () => {
    const good = VECTOR.signature.slice(3);
    expect(verify(headers({ 'webhook-signature': `v1a,${good}` }))).toEqual(NO_MATCH);
    expect(verify(headers({ 'webhook-signature': `v2,${good}` }))).toEqual(NO_MATCH);
    expect(verify(headers({ 'webhook-signature': good }))).toEqual(NO_MATCH);
    expect(verify(headers({ 'webhook-signature': `v1a,${good} ${VECTOR.signature}` }))).toEqual({ ok: true });
  });
});

describe('timestamp window', () => {
  const skewed = { ok: false, reason: 'webhook-timestamp is outside the ±5 minute window of the receiver clock', skew: true };

  it('accepts up to five minutes either way of the receiver clock', () => {
    expect(TOLERANCE_SECONDS).toBe(300);
    expect(verify(headers(), [KEY], VECTOR.body, NOW + 300)).toEqual({ ok: true });
    expect(verify(headers(), [KEY], VECTOR.body, NOW - 300)).toEqual({ ok: true });
  });

  it('refuses a second beyond, before it checks the signature, and says it is the clock', () => {
    expect(verify(headers(), [KEY], VECTOR.body, NOW + 301)).toEqual(skewed);
    expect(verify(headers(), [KEY], VECTOR.body, NOW - 301)).toEqual(skewed);
    // A replay of a captured delivery a day later fails on time, whatever its signature.
    expect(verify(headers(), [KEY], VECTOR.body, NOW + 86_400)).toEqual(skewed);
    expect(verify(headers({ 'webhook-signature': 'v1,bm9wZQ==' }), [KEY], VECTOR.body, NOW + 301)).toEqual(skewed);
  });
});

describe('malformed headers', () => {
  const missing = { ok: false, reason: 'missing webhook-id, webhook-timestamp or webhook-signature header' };
  const notSeconds = { ok: false, reason: 'webhook-timestamp must be Unix seconds' };

  it('refuses a missing or empty header, naming the three', () => {
    for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
      expect(verify(headers({ [name]: undefined })), name).toEqual(missing);
      expect(verify(headers({ [name]: '' })), name).toEqual(missing);
      expect(verify(headers({ [name]: [] })), name).toEqual(missing);
    }
    expect(verify({})).toEqual(missing);
  });

  it('refuses a timestamp that is not whole Unix seconds', () => {
    for (const ts of ['1614265330.5', '-1614265330', '+1614265330', '1614265330000', ' 1614265330', '0x60377f32', 'now', '2021-02-25T15:02:10Z']) {
      expect(verify(headers({ 'webhook-timestamp': ts })), ts).toEqual(notSeconds);
    }
    // Milliseconds where seconds belong fit the pattern but are far outside the window.
    expect(verify(headers({ 'webhook-timestamp': '161426533000' }))).toMatchObject({ ok: false, skew: true });
  });

  it('refuses signatures that are not base64 of the right length', () => {
    const good = VECTOR.signature.slice(3);
    for (const sig of ['v1,', 'v1,%%%%', `v1,${good.slice(0, -4)}`, `v1,${good}AAAA`, `v1,${'A'.repeat(10_000)}`, ',', ' ']) {
      expect(verify(headers({ 'webhook-signature': sig })), sig.slice(0, 20)).toEqual(NO_MATCH);
    }
  });

  it('reads the first value of a repeated header', () => {
    expect(verify(headers({ 'webhook-signature': [VECTOR.signature, 'v1,bm9wZQ=='] }))).toEqual({ ok: true });
    expect(verify(headers({ 'webhook-signature': ['v1,bm9wZQ==', VECTOR.signature] }))).toEqual(NO_MATCH);
    expect(verify(headers({ 'webhook-id': [VECTOR.id, 'msg_other'] }))).toEqual({ ok: true });
  });
});
