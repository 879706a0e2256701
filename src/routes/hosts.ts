/** GET /hosts (fleet), GET /hosts/:host (any identity) and the long-poll GET /hosts/:host/wait. */
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { AppContext, RouteOptions } from '../context.js';
import { AppError } from '../errors.js';
import { requireReadToken } from '../plugins/read-auth.js';
import {
  errorResponses,
  fleetSchema,
  hostDetailSchema,
  hostParamsSchema,
  hostsQuerySchema,
  waitAnswerSchema,
  waitQuerySchema,
  type WaitAnswer,
} from '../protocol/api.js';
import { isFinished } from '../protocol/status.js';
import { waitText } from '../fleet/wait-text.js';
import { type BodySlab, createBodySlab } from '../net/body-slab.js';

interface WaitState {
  hostId: number | undefined;
  finished: boolean;
  /** The answer serialised without waited_ms, shared by every waiter asking the same question. */
  json: string;
  /** The waiters' bodies: this text without its opening brace, after each one's waited_ms. */
  bodies?: BodySlab;
  /** The same answer as an object, for the text/plain form. */
  answer: Omit<WaitAnswer, 'waited_ms'>;
}

/**
 * Current state for a waiter. A finished run wakes all its waiters at once; they ask the same
 * question, so the answer is looked up and serialised once per turn of the event loop, not per waiter.
 */
function createLookup(ctx: AppContext) {
  const cache = new Map<string, WaitState>();
  const lookup = (identity: string, since: number): WaitState => {
    const key = `${since}\u0000${identity}`;
    const hit = cache.get(key);
    if (hit) return hit;
    const hostId = ctx.query.findHostId(identity);
    const host = hostId === undefined ? null : (ctx.query.hostById(hostId) ?? null);
    const run = hostId === undefined ? null : (ctx.query.latestRunSince(hostId, since) ?? null);
    const finished = run !== null && isFinished(run.status);
    // No run will come of a VM whose boot or pull failed (or that is missing): that is an answer too.
    const verdict = hostId === undefined ? undefined : ctx.fleetView.hostVerdict(identity, hostId, since);
    const gaveUp = !finished && verdict !== undefined && verdict.done && !verdict.ok;
    const answer = {
      finished,
      host,
      run,
      ...(gaveUp ? { status: verdict.status, summary: verdict.summary, next_step: verdict.next_step } : {}),
    };
    const state = { hostId, finished: finished || gaveUp, json: JSON.stringify(answer), answer };
    if (cache.size === 0) setImmediate(() => cache.clear());
    cache.set(key, state);
    return state;
  };
  // Waking means the data changed: forget answers computed before. Waiters are woken synchronously,
  // before any of them looks again, so the first look refills the cache for the rest.
  return { lookup, invalidate: () => cache.clear() };
}

/**
 * Sends a body that is already JSON, as text or as its bytes: both skip the response serializer,
 * so the route's schema documents the answer without parsing it again.
 */
function sendJsonText(reply: FastifyReply, status: number, json: string | Buffer): FastifyReply {
  return reply.code(status).type('application/json; charset=utf-8').send(json);
}

interface LongPoll {
  host: string;
  since: number;
  startedAt: number;
  deadline: number;
  /** Answer in text/plain for scripts (src/fleet/wait-text.ts): the asked `since` as written, and the receiver's URL. */
  text?: { since: string | undefined; baseUrl: string };
}

/**
 * One long-poll, callback style: it costs a timer, a waiter entry and a close listener while it
 * sleeps (no promise chain or AbortController), which matters with thousands of CI jobs waiting.
 */
function longPoll(ctx: AppContext, look: ReturnType<typeof createLookup>, reply: FastifyReply, p: LongPoll): void {
  let remove: (() => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  let done = false;
  const cleanup = () => {
    if (timer) clearTimeout(timer);
    remove?.();
    remove = undefined;
  };
  const check = () => {
    if (done) return;
    cleanup();
    let state: WaitState;
    try {
      state = look.lookup(p.host, p.since);
    } catch (err) {
      // An address that became ambiguous while waiting: answered by the error handler.
      done = true;
      void reply.send(err);
      return;
    }
    const now = ctx.clock();
    if (!state.finished && now < p.deadline && !ctx.closing.value) {
      remove = ctx.waiters.add(state.hostId, waiter);
      timer = setTimeout(check, p.deadline - now);
      return;
    }
    done = true;
    const code = state.finished ? 200 : 202;
    if (p.text === undefined) {
      // The shared body with this waiter's own waited_ms in front (src/net/body-slab.ts).
      state.bodies ??= createBodySlab(Buffer.from(state.json.slice(1)));
      const body = state.bodies.cut(`{"waited_ms":${now - p.startedAt},`);
      void sendJsonText(reply, code, body);
      state.bodies.sent(body, reply.raw);
      return;
    }
    const answer = { ...state.answer, waited_ms: now - p.startedAt };
    const detail = answer.finished && answer.run?.status === 'failed' ? ctx.query.run(answer.run.run_id) : undefined;
    void reply
      .code(code)
      .type('text/plain; charset=utf-8')
      .send(waitText(answer, p.host, p.text.since, p.text.baseUrl, detail));
  };
  // Woken synchronously with every other waiter of the host; look again only once all are woken.
  const waiter = {
    wake: () => {
      look.invalidate();
      queueMicrotask(check);
    },
  };
  // The client hung up: stop waiting.
  reply.raw.once('close', () => {
    done = true;
    cleanup();
  });
  check();
}

export async function hostRoutes(fastify: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const look = createLookup(ctx);
  requireReadToken(app, ctx.config.readToken);

  // The fleet answer is built as JSON by SQLite (src/store/fleet-json.ts); the schema documents it.
  app.get(
    '/hosts',
    {
      schema: {
        summary: 'The fleet: counts by status and one row per host',
        querystring: hostsQuerySchema,
        response: { 200: fleetSchema, ...errorResponses },
      },
    },
    async (request, reply) => sendJsonText(reply, 200, ctx.query.fleetJson(request.query)),
  );

  app.get(
    '/hosts/:host',
    {
      schema: {
        summary: 'A host by any identity: its last runs, check-ins and cloud-init timeline, and what to check next',
        params: hostParamsSchema,
        response: { 200: hostDetailSchema, ...errorResponses },
      },
    },
    async (request) => {
      const { host } = request.params;
      const found = ctx.fleetView.hostDetail(host);
      if (!found)
        throw new AppError('NOT_FOUND', `no host known by ${JSON.stringify(host)} (hostname, IP, machine-id, instance-id or VMID)`);
      return found;
    },
  );

  // 200: a finished run (its status says succeeded or failed). 202: still waiting at the timeout;
  // the body shows progress. A host not known yet is waited for, since VMs report after they boot.
  // The body is serialised once for every waiter of a host (createLookup); the schema documents it.
  app.get(
    '/hosts/:host/wait',
    {
      schema: {
        summary: 'Long-poll until the host has a finished run started after `since`',
        params: hostParamsSchema,
        querystring: waitQuerySchema,
        response: { 200: waitAnswerSchema, 202: waitAnswerSchema, ...errorResponses },
      },
    },
    (request, reply) => {
      const startedAt = ctx.clock();
      const deadline = startedAt + Math.min(request.query.timeout, ctx.config.maxWaitSeconds) * 1000;
      const text = /^text\/plain/i.test(request.headers.accept ?? '')
        ? {
            since: new URL(request.url, 'http://receiver.invalid').searchParams.get('since') ?? undefined,
            baseUrl: `${request.protocol}://${request.host}`,
          }
        : undefined;
      longPoll(ctx, look, reply, {
        host: request.params.host,
        since: request.query.since ?? 0,
        startedAt,
        deadline,
        ...(text ? { text } : {}),
      });
    },
  );
}
