/** Optional bearer token for the read API and /metrics; separate from the ingest secrets. */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { AppError } from '../errors.js';
import { COOKIE, cookieValue, readCookie } from '../pages/page-auth.js';

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Registers an onRequest hook that refuses requests without the token; nothing when none is set. */
export function requireReadToken(app: FastifyInstance, token: string | undefined): void {
  // No hook at all without a token: a long-poll per CI job should not pay for a no-op promise.
  if (token !== undefined) app.addHook('onRequest', readAuth(token));
}

/** An onRequest hook that refuses requests without the token; a no-op when none is set. */
export function readAuth(token: string | undefined): onRequestAsyncHookHandler {
  // Comparing digests keeps the comparison constant-time whatever length the caller sends.
  const expected = token === undefined ? undefined : digest(token);
  const session = token === undefined ? undefined : digest(cookieValue(token));
  return async (request: FastifyRequest) => {
    if (expected === undefined) return;
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (match && timingSafeEqual(digest(match[1]!), expected)) return;
    // A browser that signed in on a status page follows its links to the JSON API with the cookie.
    const cookie = readCookie(request.headers.cookie, COOKIE);
    if (cookie === undefined || !timingSafeEqual(digest(cookie), session!)) {
      throw new AppError('UNAUTHORIZED', 'this endpoint needs "Authorization: Bearer <read token>"');
    }
  };
}
