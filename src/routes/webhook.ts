/** POST /webhook: validates a delivery (one event or a batch) and answers once it is committed. */
import type { FastifyInstance, FastifyReply, FastifyRequest, FastifySchemaCompiler } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { RouteOptions } from '../context.js';
import { AppError, errorBody } from '../errors.js';
import { watchAcceptQueue, type AcceptQueueWatch } from '../ingest/accept-queue.js';
import { secretKey, verifySignature } from '../ingest/signature.js';
import { createVmKeys } from '../auth/vm-keys.js';
import { Trust } from '../store/host-writer.js';
import { createRateLimiter } from '../ingest/rate-limit.js';
import { createRetrySpread } from '../ingest/retry-spread.js';
import { toAppError } from '../plugins/errors.js';
import { deliveryAnswerSchema, errorResponses } from '../protocol/api.js';
import { compileEventCheck, passesCompiledCheck } from '../protocol/compiled-events.js';
import { batchSchema, eventSchema } from '../protocol/events.js';
import { parseOr } from '../validation.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The body exactly as received, for signature checks. */
    rawBody?: string;
    /** Who vouched for the delivery's identity: set by the signature check. */
    trust?: Trust;
  }
}

/** The one hostname every event of a delivery claims, or undefined when they differ or it is not there. */
function claimedName(body: unknown): string | undefined {
  if (body === null || typeof body !== 'object') return undefined;
  const events: unknown[] = 'events' in body && Array.isArray(body.events) ? body.events : [body];
  let name: string | undefined;
  for (const e of events) {
    const h = (e as { host?: { hostname?: unknown } } | null)?.host?.hostname;
    if (typeof h !== 'string' || (name !== undefined && h !== name)) return undefined;
    name = h;
  }
  return name;
}

/** What POST /webhook accepts: one event, or a batch of them. */
const deliverySchema = z.union([eventSchema, batchSchema]);
type Delivery = z.infer<typeof deliverySchema>;

/** A batch is recognised by its `events` key; anything else must be a single event. */
function parseDelivery(body: unknown): Delivery {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new AppError('INVALID_EVENT', '(body): expected a JSON object: one event, or {"events": [...]}');
  }
  const batch = 'events' in body;
  // Most bodies pass the compiled check and are taken as they are; zod judges the rest.
  if (passesCompiledCheck(body, batch)) return body as Delivery;
  return batch ? parseOr(batchSchema, body, 'INVALID_EVENT') : parseOr(eventSchema, body, 'INVALID_EVENT');
}

/**
 * The body is checked against the one schema its shape calls for, not the union: zod's union
 * error would list the problems of both alternatives, where this names the field that is wrong.
 */
const deliveryValidator: FastifySchemaCompiler<unknown> = () => (body) => {
  try {
    return { value: parseDelivery(body) };
  } catch (err) {
    return { error: err as Error };
  }
};

/**
 * Whether the sender closed its side: Node then drops the answer anyway (http.Server without
 * httpAllowHalfOpen), so a delivery still waiting for its write is not worth writing.
 */
function senderGone(request: FastifyRequest): boolean {
  const socket = request.raw.socket as FastifyRequest['raw']['socket'] | undefined;
  return socket !== undefined && (socket.destroyed || socket.readableEnded);
}

export async function webhookRoutes(fastify: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const { config, effects, committer } = ctx;
  compileEventCheck();
  const keys = config.secrets.map(secretKey);
  const limiter = createRateLimiter(config.rateLimitPerMinute, ctx.clock);

  // Agents and `curl -d` send JSON with no or the wrong Content-Type: parse every body as JSON here.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: config.bodyLimit }, (request, body, done) => {
    const text = body as string;
    request.rawBody = text;
    if (text.length === 0) return done(new AppError('INVALID_JSON', 'request body is empty; expected JSON'));
    try {
      done(null, JSON.parse(text));
    } catch (err) {
      done(new AppError('INVALID_JSON', `request body is not valid JSON: ${(err as Error).message}`));
    }
  });

  // Deliveries waiting: between their first byte and their answer, and still in the kernel's
  // accept queue (src/ingest/accept-queue.ts). Past the bound, a delivery is refused before its
  // body is read: a 503 costs about what bare Fastify's answer does, so the loop turns faster,
  // takes the waiting connections before they overflow the backlog, and the plugin retries after
  // Retry-After with a bigger batch.
  let inFlight = 0;
  const settled = () => {
    inFlight -= 1;
  };
  let acceptQueue: AcceptQueueWatch | undefined;
  // A few deliveries are always taken, however long the kernel's queue: refusing everything would
  // leave the receiver busy refusing with nothing stored, and every VM retrying.
  const alwaysAdmit = Math.min(4, config.maxInFlight);
  const overloaded = () => inFlight >= alwaysAdmit && inFlight + (acceptQueue?.length ?? 0) >= config.maxInFlight;
  // Shedding must cost less than the work it refuses: answered right here, with a body written
  // once, no error object (its stack), no error log line, no serializer. The connection stays
  // open (Node discards the unread body), so a kept-alive sender retries without a new accept.
  const overload = new AppError('OVERLOADED', 'too many deliveries are waiting for the receiver; retry shortly');
  const overloadBody = JSON.stringify(errorBody(overload));
  // Refused VMs are spread over at least 1-3 s, or the pacing linger when that is longer, so those
  // refused together do not all come back in the same second; longer while refusals go on.
  const retrySpread = createRetrySpread({ minS: 3, maxS: Math.max(3, config.pacingMaxMs / 1000), clock: ctx.clock });
  const shed = (reply: FastifyReply) => {
    effects.deliveryRefused(overload);
    retrySpread.refused();
    const spread = retrySpread.seconds(Math.ceil(ctx.pacer.lingerMs() / 1000));
    void reply
      .code(503)
      .header('retry-after', String(1 + Math.floor(Math.random() * spread)))
      .type('application/json; charset=utf-8')
      .send(overloadBody);
  };
  if (config.maxInFlight > 0) {
    fastify.addHook('onListen', (done) => {
      const address = fastify.server.address();
      if (address !== null && typeof address === 'object')
        acceptQueue = watchAcceptQueue(address.port, address.family === 'IPv6' ? 'IPv6' : 'IPv4', fastify.server);
      done();
    });
    fastify.addHook('onClose', (_instance, done) => {
      acceptQueue?.stop();
      done();
    });
  }

  // Callback-style hooks: this is the hot path, and each async hook costs a promise per request.
  app.addHook('onRequest', (request, reply, done) => {
    ctx.pacer.seen(request.ip);
    const wait = limiter.take(request.ip);
    if (wait > 0) return done(new AppError('RATE_LIMITED', 'too many deliveries from this address; slow down', wait));
    if (ctx.closing.value) {
      void reply.header('connection', 'close');
      return done(new AppError('SHUTTING_DOWN', 'the receiver is shutting down; retry shortly', 5));
    }
    if (config.maxInFlight > 0) {
      if (overloaded()) return shed(reply);
      retrySpread.admitted();
      inFlight += 1;
      // 'close' comes once per response, answered or aborted by the client.
      reply.raw.once('close', settled);
    }
    done();
  });

  // Before validation, so an unsigned delivery is refused as such whatever its body says. With
  // per-VM keys, the key is the one of the hostname every event claims (docs/security.md).
  const vmKeys = createVmKeys(config.vmKeyMasters);
  if (keys.length > 0 || vmKeys.enabled) {
    app.addHook('preValidation', (request, _reply, done) => {
      const now = Math.floor(ctx.clock() / 1000);
      const body = request.rawBody ?? '';
      const name = vmKeys.enabled ? claimedName(request.body) : undefined;
      const own = name === undefined ? undefined : verifySignature(vmKeys.keysFor(name), request.headers, body, now);
      if (own?.ok) {
        request.trust = Trust.vmKey;
        return done();
      }
      const shared = keys.length > 0 ? verifySignature(keys, request.headers, body, now) : undefined;
      if (shared?.ok) {
        if (config.requireVmKeys) {
          return done(
            new AppError(
              'VM_KEY_REQUIRED',
              'this receiver takes only per-VM keys (WEBHOOK_REQUIRE_VM_KEYS): sign with the key of the VM the events name',
            ),
          );
        }
        request.trust = Trust.shared;
        return done();
      }
      const failed = [own, shared].filter((c) => c !== undefined && !c.ok) as Array<{ reason: string; skew?: boolean }>;
      if (failed.some((c) => c.skew)) return done(new AppError('TIMESTAMP_OUT_OF_WINDOW', failed.find((c) => c.skew)!.reason));
      // A missing or malformed header says more than "no signature matched".
      const malformed = failed.find((c) => !c.reason.startsWith('no valid'));
      const why =
        malformed?.reason ??
        (vmKeys.enabled && name === undefined
          ? 'with per-VM keys, every event of a delivery must name the same host (host.hostname)'
          : vmKeys.enabled
            ? `no valid v1 signature for the key of ${JSON.stringify(name)}${keys.length > 0 ? ' or the shared secrets' : ''}`
            : (failed[0]?.reason ?? 'no valid signature'));
      done(new AppError('BAD_SIGNATURE', why));
    });
  }

  // Counted and logged, then the connection is closed: there is no one to answer.
  const clientGone = new AppError('CLIENT_GONE', 'the sender closed its connection before its delivery was written; nothing stored');
  const dropAbandoned = (request: FastifyRequest, reply: FastifyReply, events: number) => {
    effects.deliveryRefused(clientGone);
    request.log.info({ code: clientGone.code, address: request.ip, events }, clientGone.message);
    reply.hijack();
    request.raw.socket.destroy();
    return reply;
  };

  app.addHook('onError', (_request: FastifyRequest, _reply: FastifyReply, error, done) => {
    effects.deliveryRefused(toAppError(error));
    done();
  });

  app.addHook('onResponse', (_request, reply, done) => {
    effects.deliveryAnswered(reply.elapsedTime);
    done();
  });

  app.post(
    '/webhook',
    {
      bodyLimit: config.bodyLimit,
      validatorCompiler: deliveryValidator,
      // The hot path: the answer is built right here from typed values, so checking it against the
      // schema again buys nothing. With the schema's zod serializer, the ingest benchmark's batches
      // of 100 ran at 28,500 events/s, against 40,000–52,000 with plain JSON.stringify (2 cores).
      serializerCompiler: () => (data) => JSON.stringify(data),
      schema: {
        summary: 'One event or a batch; answered once committed',
        body: deliverySchema,
        response: { 200: deliveryAnswerSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const events = 'events' in request.body ? request.body.events : [request.body];
      const receivedAt = ctx.clock();
      const trust = request.trust ?? Trust.none;
      const items = events.map((event) => ({ event, address: request.ip, receivedAt, trust }));
      const outcomes = await committer.submit(items, () => senderGone(request));
      if (outcomes === undefined) return dropAbandoned(request, reply, events.length);
      const stored = outcomes.filter((o) => o === 'stored').length;
      const linger = ctx.pacer.lingerMs();
      return reply.code(200).send({
        accepted: events.length,
        stored,
        duplicates: events.length - stored,
        results: events.map((e, i) => ({ event_id: e.event_id, outcome: outcomes[i]! })),
        ...(linger > 0 ? { linger_ms: linger } : {}),
      });
    },
  );
}
