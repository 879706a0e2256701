/**
 * Standard Webhooks signature verification: webhook-signature is `v1,<base64 HMAC-SHA256>` of
 * `<webhook-id>.<webhook-timestamp>.<raw body>` keyed with the base64 part of a `whsec_` secret.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const TOLERANCE_SECONDS = 5 * 60;

export type SignatureCheck = { ok: true } | { ok: false; reason: string; skew?: boolean };

export function secretKey(secret: string): Buffer {
  return Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
}

export function sign(key: Buffer, id: string, timestamp: number | string, body: string): string {
  return createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64');
}

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Checks the three headers against every configured key (several during a rotation). */
export function verifySignature(
  keys: Buffer[],
  headers: Record<string, string | string[] | undefined>,
  body: string,
  nowSeconds: number,
): SignatureCheck {
  const id = header(headers, 'webhook-id');
  const ts = header(headers, 'webhook-timestamp');
  const sig = header(headers, 'webhook-signature');
  if (!id || !ts || !sig) return { ok: false, reason: 'missing webhook-id, webhook-timestamp or webhook-signature header' };
  if (!/^\d{1,12}$/.test(ts)) return { ok: false, reason: 'webhook-timestamp must be Unix seconds' };
  if (Math.abs(nowSeconds - Number(ts)) > TOLERANCE_SECONDS) {
    return { ok: false, reason: 'webhook-timestamp is outside the ±5 minute window of the receiver clock', skew: true };
  }
  // The header may carry several space-separated signatures (the sender's own rotation).
  // They are compared as text, as the reference libraries do: decoding first would let Node's
  // lenient base64 accept a signature with junk after its padding.
  const offered = sig
    .split(' ')
    .filter((s) => s.startsWith('v1,'))
    .map((s) => Buffer.from(s.slice(3)));
  for (const key of keys) {
    const expected = Buffer.from(sign(key, id, ts, body));
    if (offered.some((o) => o.length === expected.length && timingSafeEqual(o, expected))) return { ok: true };
  }
  return { ok: false, reason: 'no valid v1 signature for the configured secrets' };
}
