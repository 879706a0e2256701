/** Optional bearer token for the read API and /metrics; separate from the ingest secrets. */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { AppError } from '../errors.js';

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Returns an onRequest hook that refuses requests without the token; a no-op when none is set. */
export function readAuth(token: string | undefined): onRequestAsyncHookHandler {
  // Comparing digests keeps the comparison constant-time whatever length the caller sends.
  const expected = token === undefined ? undefined : digest(token);
  return async (request: FastifyRequest) => {
    if (expected === undefined) return;
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match || !timingSafeEqual(digest(match[1]!), expected)) {
      throw new AppError('UNAUTHORIZED', 'this endpoint needs "Authorization: Bearer <read token>"');
    }
  };
}
