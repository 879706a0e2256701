/**
 * Checking the read token, for the JSON API (src/plugins/read-auth.ts) and the status pages alike.
 * Browsers cannot send a bearer header on a link or an
 * EventSource, so a page also accepts `?token=` once: it then sets a cookie and redirects to the
 * same address without the token, keeping it out of the address bar, history and page markup.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type {} from '@fastify/sensible';
import type { FastifyReply, FastifyRequest } from 'fastify';

export const COOKIE = 'webhook_read';
const COOKIE_MAX_AGE = 30 * 86400;

const digest = (s: string) => createHash('sha256').update(s).digest();
const same = (given: string, expected: Buffer) => timingSafeEqual(digest(given), expected);

/** The cookie holds a value derived from the token, so a leaked cookie does not reveal the API token. */
export function cookieValue(token: string): string {
  return createHmac('sha256', token).update('webhook status page').digest('base64url');
}

function readCookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * Whether a request carries the read token as `Authorization: Bearer`, or the sign-in cookie
 * derived from it. Shared by the pages (createPageAuth below) and the JSON API (src/plugins/read-auth.ts).
 */
export function createCredentialCheck(token: string): (request: FastifyRequest) => boolean {
  const hasBearer = createBearerCheck(token);
  const session = digest(cookieValue(token));
  return (request) => {
    if (hasBearer(request)) return true;
    const cookie = readCookie(request.headers.cookie, COOKIE);
    return cookie !== undefined && same(cookie, session);
  };
}

/** Whether a request carries `Authorization: Bearer <token>`; a cookie never counts (writes use this). */
export function createBearerCheck(token: string): (request: FastifyRequest) => boolean {
  // Comparing digests keeps the comparison constant-time whatever length the caller sends.
  const bearer = digest(token);
  return (request) => {
    const header = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '')?.[1];
    return header !== undefined && same(header, bearer);
  };
}

export type PageAuthResult = 'ok' | 'denied' | { redirect: string; cookie: string };

/** Decides whether a page request may proceed; undefined token means pages are open. */
export function createPageAuth(token: string | undefined) {
  const bearer = token === undefined ? undefined : digest(token);
  const hasCredential = token === undefined ? undefined : createCredentialCheck(token);
  return (request: FastifyRequest): PageAuthResult => {
    if (bearer === undefined || hasCredential === undefined || token === undefined) return 'ok';
    const url = new URL(request.url, 'http://page.invalid');
    const fromQuery = url.searchParams.get('token');
    if (fromQuery !== null) {
      if (!same(fromQuery, bearer)) return 'denied';
      url.searchParams.delete('token');
      const secure = request.protocol === 'https' ? '; Secure' : '';
      return {
        // Only the path and query are kept, with one leading slash: never a redirect off this host.
        redirect: `/${url.pathname.replace(/^\/+/, '')}${url.search}`,
        cookie: `${COOKIE}=${cookieValue(token)}; Path=/; Max-Age=${COOKIE_MAX_AGE}; HttpOnly; SameSite=Strict${secure}`,
      };
    }
    return hasCredential(request) ? 'ok' : 'denied';
  };
}

/** Sends the redirect that swaps `?token=` for the cookie. */
export function sendTokenRedirect(reply: FastifyReply, r: { redirect: string; cookie: string }): FastifyReply {
  return reply.header('set-cookie', r.cookie).cacheControl('no-store').redirect(r.redirect, 303);
}
