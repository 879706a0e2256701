/** POST /webhook: validates a delivery (one event or a batch) and answers once it is committed. */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { RouteOptions } from '../context.js';
import { AppError } from '../errors.js';
import { secretKey, verifySignature } from '../ingest/signature.js';
import { createRateLimiter } from '../ingest/rate-limit.js';
import { toAppError } from '../plugins/errors.js';
import type { DeliveryAnswer } from '../protocol/api.js';
import { batchSchema, eventSchema, type WebhookEvent } from '../protocol/events.js';
import { parseOr } from '../validation.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The body exactly as received, for signature checks. */
    rawBody?: string;
  }
}

/** A batch is recognised by its `events` key; anything else must be a single event. */
function parseDelivery(body: unknown): WebhookEvent[] {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new AppError('INVALID_EVENT', '(body): expected a JSON object: one event, or {"events": [...]}');
  }
  if ('events' in body) return parseOr(batchSchema, body, 'INVALID_EVENT').events;
  return [parseOr(eventSchema, body, 'INVALID_EVENT')];
}

export async function webhookRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  const { config, effects, committer } = ctx;
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

  // Callback-style hooks: this is the hot path, and each async hook costs a promise per request.
  app.addHook('onRequest', (request, reply, done) => {
    const wait = limiter.take(request.ip);
    if (wait > 0) return done(new AppError('RATE_LIMITED', 'too many deliveries from this address; slow down', wait));
    if (ctx.closing.value) {
      void reply.header('connection', 'close');
      return done(new AppError('SHUTTING_DOWN', 'the receiver is shutting down; retry shortly', 5));
    }
    done();
  });

  if (keys.length > 0) {
    app.addHook('preHandler', (request, _reply, done) => {
      const check = verifySignature(keys, request.headers, request.rawBody ?? '', Math.floor(ctx.clock() / 1000));
      if (check.ok) return done();
      done(new AppError(check.skew ? 'TIMESTAMP_OUT_OF_WINDOW' : 'BAD_SIGNATURE', check.reason));
    });
  }

  app.addHook('onError', (_request: FastifyRequest, _reply: FastifyReply, error, done) => {
    effects.deliveryRefused(toAppError(error));
    done();
  });

  app.addHook('onResponse', (_request, reply, done) => {
    effects.deliveryAnswered(reply.elapsedTime);
    done();
  });

  app.post('/webhook', { bodyLimit: config.bodyLimit }, async (request, reply) => {
    const events = parseDelivery(request.body);
    const receivedAt = ctx.clock();
    const outcomes = await committer.submit(events.map((event) => ({ event, address: request.ip, receivedAt })));
    const stored = outcomes.filter((o) => o === 'stored').length;
    const answer: DeliveryAnswer = {
      accepted: events.length,
      stored,
      duplicates: events.length - stored,
      results: events.map((e, i) => ({ event_id: e.event_id, outcome: outcomes[i]! })),
    };
    return reply.code(200).send(answer);
  });
}
