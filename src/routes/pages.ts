/**
 * Status pages for people, on the receiver's own port: the fleet at `/`, host and run pages under
 * `/ui`, their stylesheet and script under `/ui/assets`, and change notifications at `/events`.
 * Pages are rendered on the server from the same query store as the JSON API.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { RouteOptions } from '../context.js';
import { AppError } from '../errors.js';
import { assets } from '../pages/assets.js';
import { errorPage } from '../pages/error.js';
import { fleetPage } from '../pages/fleet.js';
import { hostKey } from '../pages/format.js';
import { hostPage } from '../pages/host.js';
import type { Html } from '../pages/html.js';
import { createLiveEvents } from '../pages/live-events.js';
import { createPageAuth, sendTokenRedirect } from '../auth/read-credential.js';
import { runPage } from '../pages/run.js';
import { toAppError } from '../plugins/errors.js';
import { errorResponses, runParamsSchema } from '../protocol/api.js';
import { hostStatuses, runOutcomes, taskChanges } from '../protocol/status.js';
import { changesPage } from '../pages/changes.js';

/** Everything a page loads comes from this origin; no inline script or style is needed. */
export const PAGE_CSP =
  "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data:; " +
  "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

// Unlike the API, unknown parameters are ignored: page addresses get bookmarked and decorated.
// An empty status is what the form's "all" option submits.
const fleetQuerySchema = z.object({
  status: z.union([z.literal(''), z.enum(hostStatuses)]).optional(),
  outcome: z.union([z.literal(''), z.enum(runOutcomes)]).optional(),
  q: z.string().max(253).optional(),
});
const changesPageQuery = z.object({
  hours: z.coerce
    .number()
    .int()
    .min(1)
    .max(24 * 90)
    .catch(24)
    .default(24),
  host: z.string().max(253).optional(),
  change: z.union([z.literal(''), z.enum(taskChanges)]).optional(),
  cursor: z.string().max(200).optional(),
});
// A bad address is a page that does not exist (404), not a bad request: any string is taken and looked up.
const hostPageParams = z.object({ host: z.string() });
const runPageParams = z.object({ id: z.string() });
const assetParams = z.object({ name: z.string() });
const assetQuery = z.object({ v: z.string().optional() });

const html = (description: string) => ({ description, content: { 'text/html': { schema: z.string() } } });
/** Every page answers HTML, its errors included. */
const pageResponses = (description: string) => ({ 200: html(description), '4xx': html('error page'), '5xx': html('error page') });

function sendPage(reply: FastifyReply, statusCode: number, page: Html): FastifyReply {
  return reply.code(statusCode).header('content-security-policy', PAGE_CSP).type('text/html; charset=utf-8').send(page.value);
}

export async function pageRoutes(fastify: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const live = createLiveEvents(ctx.changes);
  // preClose runs before the server stops listening, so open streams never hold close() up.
  app.addHook('preClose', async () => live.close());

  // Assets are public: they hold nothing about the fleet, and the 401 page needs its stylesheet.
  const assetResponse = {
    description: 'stylesheet, script or icon',
    content: { 'text/css': { schema: z.string() }, 'text/javascript': { schema: z.string() }, 'image/svg+xml': { schema: z.string() } },
  };
  app.get(
    '/ui/assets/:name',
    {
      schema: { summary: 'Page assets', params: assetParams, querystring: assetQuery, response: { 200: assetResponse, ...errorResponses } },
    },
    async (request, reply) => {
      const { name } = request.params;
      const asset = Object.hasOwn(assets, name) ? assets[name] : undefined;
      if (!asset) return reply.callNotFound();
      const { v } = request.query;
      // A versioned address never changes content; an unversioned one is checked every time.
      if (v === asset.hash) void reply.staticCache(31_536_000);
      else void reply.cacheControl('no-cache');
      return reply.type(asset.type).send(asset.body);
    },
  );

  await app.register(async (scope) => {
    const ui = scope.withTypeProvider<ZodTypeProvider>();
    const auth = createPageAuth(ctx.config.readToken);
    ui.addHook('onRequest', async (request, reply) => {
      const verdict = auth(request);
      if (verdict === 'ok') return;
      if (verdict === 'denied') return sendPage(reply, 401, errorPage(401, 'These pages need the receiver’s read token.'));
      return sendTokenRedirect(reply, verdict);
    });

    ui.setErrorHandler((cause, request, reply) => {
      const err = toAppError(cause, request);
      const fields = { code: err.code, statusCode: err.statusCode, address: request.ip, route: request.routeOptions.url };
      if (err.statusCode >= 500) request.log.error({ ...fields, err: cause }, err.message);
      else request.log.warn(fields, err.message);
      if (err.retryAfter !== undefined) void reply.header('retry-after', String(err.retryAfter));
      return sendPage(reply, err.statusCode, errorPage(err.statusCode, err.message));
    });

    ui.get(
      '/',
      { schema: { summary: 'Fleet page', querystring: fleetQuerySchema, response: pageResponses('fleet page') } },
      async (request, reply) => {
        const query = request.query;
        const status = query.status === '' ? undefined : query.status;
        const q = query.q?.trim() === '' ? undefined : query.q?.trim();
        const outcome = query.outcome === '' ? undefined : query.outcome;
        const fleet = ctx.query.fleet({ ...(status ? { status } : {}), ...(outcome ? { outcome } : {}), ...(q ? { q } : {}) });
        const receiverUrl = `${request.protocol}://${request.host}`;
        const { expected, reported } = ctx.fleetView.fleetAnswer();
        return sendPage(
          reply,
          200,
          fleetPage(fleet, { status, outcome, q, now: ctx.clock(), receiverUrl, coverage: { expected, reported } }),
        );
      },
    );

    ui.get(
      '/ui/changes',
      {
        schema: {
          summary: 'Changes page: what changed in a window, and why',
          querystring: changesPageQuery,
          response: pageResponses('changes page'),
        },
      },
      async (request, reply) => {
        const q = request.query;
        const now = ctx.clock();
        const change = q.change === '' ? undefined : q.change;
        const host = q.host?.trim() === '' ? undefined : q.host?.trim();
        const hostId = host === undefined ? null : (ctx.query.findHostId(host) ?? -1);
        const page = ctx.history.changes(
          { since: now - q.hours * 3_600_000, limit: 200, ...(change ? { change } : {}), ...(q.cursor ? { cursor: q.cursor } : {}) },
          hostId,
        );
        return sendPage(reply, 200, changesPage(page, { hours: q.hours, host, change, cursor: q.cursor, now }));
      },
    );

    ui.get(
      '/ui/hosts/:host',
      { schema: { summary: 'Host page', params: hostPageParams, response: pageResponses('host page') } },
      async (request, reply) => {
        const asked = request.params.host;
        const found = asked.length > 0 && asked.length <= 253 ? ctx.fleetView.hostDetail(asked) : undefined;
        if (!found) {
          throw new AppError('NOT_FOUND', `No host is known by “${asked}” (hostname, IP address, machine-id, instance id or VMID).`);
        }
        return sendPage(reply, 200, hostPage(found, ctx.clock()));
      },
    );

    ui.get(
      '/ui/runs/:id',
      { schema: { summary: 'Run page', params: runPageParams, response: pageResponses('run page') } },
      async (request, reply) => {
        const { id } = request.params;
        const run = runParamsSchema.safeParse({ id }).success ? ctx.query.run(id) : undefined;
        if (!run) throw new AppError('NOT_FOUND', `No run has the id “${id}”.`);
        const host = ctx.query.hostById(run.host_id);
        return sendPage(reply, 200, runPage(run, host ? hostKey(host) : run.hostname, run.host_id, ctx.clock(), ctx.history.diff(id)));
      },
    );

    // One stream per open page; see src/pages/live-events.ts for what flows on it.
    const stream = {
      description: 'server-sent events: `changed` with the ids of hosts that changed',
      content: { 'text/event-stream': { schema: z.string() } },
    };
    // The stream is written to the socket as it goes; the schema documents it.
    ui.get(
      '/events',
      { schema: { summary: 'Live changes for open pages', response: { ...pageResponses('error page'), 200: stream } } },
      async (_request, reply) => {
        if (ctx.closing.value) throw new AppError('SHUTTING_DOWN', 'the receiver is shutting down', 5);
        if (live.size >= live.maxClients) throw new AppError('RATE_LIMITED', 'too many open status pages', 30);
        reply.hijack();
        // Connection: close lets the socket go with the stream when the app closes.
        reply.raw.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-store',
          connection: 'close',
          'x-content-type-options': 'nosniff',
          'x-accel-buffering': 'no',
        });
        reply.raw.write('retry: 5000\n\n');
        if (!live.add(reply.raw)) reply.raw.end();
      },
    );
  });

  // Anything else under /ui is a person following a bad link: answer with a page, not JSON.
  await app.register(
    async (scope) => {
      scope.setNotFoundHandler((request, reply) =>
        sendPage(reply, 404, errorPage(404, `There is no page at ${request.url.split('?')[0]}.`)),
      );
    },
    { prefix: '/ui' },
  );
}
