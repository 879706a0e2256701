/** Optional bearer token for the read API and /metrics; separate from the ingest secrets. */
import type { FastifyInstance, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { AppError } from '../errors.js';
import { createCredentialCheck } from '../auth/read-credential.js';

/** Registers an onRequest hook that refuses requests without the token; nothing when none is set. */
export function requireReadToken(app: FastifyInstance, token: string | undefined): void {
  // No hook at all without a token: a long-poll per CI job should not pay for a no-op promise.
  if (token !== undefined) app.addHook('onRequest', readAuth(token));
}

/**
 * An onRequest hook that refuses requests without the token. A browser that signed in on a status
 * page follows its links to the JSON API with the sign-in cookie, so that is accepted too.
 */
export function readAuth(token: string): onRequestAsyncHookHandler {
  const hasCredential = createCredentialCheck(token);
  return async (request: FastifyRequest) => {
    if (!hasCredential(request)) {
      throw new AppError('UNAUTHORIZED', 'this endpoint needs "Authorization: Bearer <read token>"');
    }
  };
}
