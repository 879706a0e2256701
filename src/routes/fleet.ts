/**
 * The expected fleet: PUT /fleet declares it (admin token), GET /fleet shows every expected VM
 * with its status and the coverage, GET /fleet/wait holds one long-poll for many VMs.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { RouteOptions } from '../context.js';
import { AppError } from '../errors.js';
import { createFleetWaits } from '../fleet/fleet-waits.js';
import { waitAnswerText } from '../fleet/fleet-view.js';
import { createBearerCheck } from '../auth/read-credential.js';
import { readAuth } from '../plugins/read-auth.js';
import { errorResponses } from '../protocol/api.js';
import {
  fleetAnswerSchema,
  fleetBodySchema,
  fleetQuerySchema,
  fleetWaitAnswerSchema,
  fleetWaitQuerySchema,
  type FleetWaitAnswer,
} from '../protocol/fleet.js';

const declaredSchema = z.object({ expected: z.number(), reported: z.number(), coverage: z.number() });

/** Bearer check for writes; the read token's cookie does not count here. */
function adminAuth(token: string | undefined) {
  const check = token === undefined ? undefined : createBearerCheck(token);
  return async (request: FastifyRequest) => {
    if (check === undefined) {
      throw new AppError(
        'ADMIN_DISABLED',
        'PUT /fleet is disabled: set WEBHOOK_ADMIN_TOKEN (or WEBHOOK_ADMIN_TOKEN_FILE) on the receiver to enable it',
      );
    }
    if (!check(request)) throw new AppError('UNAUTHORIZED', 'PUT /fleet needs "Authorization: Bearer <admin token>"');
  };
}

const wantsText = (request: FastifyRequest) => /^text\/plain/i.test(request.headers.accept ?? '');

export async function fleetRoutes(fastify: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const waits = createFleetWaits(ctx.changes);
  app.addHook('preClose', async () => waits.wakeAll());
  const read = ctx.config.readToken === undefined ? [] : [readAuth(ctx.config.readToken)];

  app.put(
    '/fleet',
    {
      onRequest: adminAuth(ctx.config.adminToken),
      bodyLimit: 8 * 1024 * 1024,
      config: { invalidBody: 'INVALID_FLEET' },
      schema: {
        summary: 'Declare the expected fleet (admin token); replaces the declared set',
        body: fleetBodySchema,
        response: { 200: declaredSchema, ...errorResponses },
      },
    },
    async (request) => {
      const { vms } = request.body;
      ctx.fleet.declare(vms, ctx.clock());
      request.log.info({ vms: vms.length }, 'expected fleet declared');
      ctx.effects.fleetChanged();
      const answer = ctx.fleetView.fleetAnswer();
      return { expected: answer.expected, reported: answer.reported, coverage: answer.coverage };
    },
  );

  app.get(
    '/fleet',
    {
      onRequest: read,
      schema: {
        summary: 'Every expected VM with its status, and the coverage',
        querystring: fleetQuerySchema,
        response: { 200: fleetAnswerSchema, ...errorResponses },
      },
    },
    async (request) => ctx.fleetView.fleetAnswer(request.query.status),
  );

  // 200 once the answer is known (state succeeded or failed), 202 at the timeout (state pending).
  // With Accept: text/plain the answer is one line per VM (see waitAnswerText), for shell scripts.
  app.get(
    '/fleet/wait',
    {
      onRequest: read,
      schema: {
        summary: 'One long-poll for many VMs (vm=… repeated, or all=1): answers as soon as all succeeded or one failed',
        querystring: fleetWaitQuerySchema,
        response: { 200: fleetWaitAnswerSchema, 202: fleetWaitAnswerSchema, ...errorResponses },
      },
    },
    (request, reply) => {
      const query = request.query;
      const vms = query.all === true ? 'all' : [query.vm ?? []].flat();
      const startedAt = ctx.clock();
      const deadline = startedAt + Math.min(query.timeout, ctx.config.maxWaitSeconds) * 1000;
      const text = wantsText(request);
      const keepGoing = query.keep_going === true;
      let remove: (() => void) | undefined;
      let timer: NodeJS.Timeout | undefined;
      let done = false;
      const finish = (answer: FleetWaitAnswer) => {
        done = true;
        remove?.();
        if (timer) clearTimeout(timer);
        const code = answer.state === 'pending' ? 202 : 200;
        send(reply.code(code), answer, text);
      };
      const check = () => {
        if (done) return;
        const now = ctx.clock();
        let state: ReturnType<typeof ctx.fleetView.waitState>;
        try {
          state = ctx.fleetView.waitState(vms, keepGoing, query.since ?? 0);
        } catch (err) {
          // An address that became ambiguous while waiting: answered by the error handler.
          done = true;
          remove?.();
          if (timer) clearTimeout(timer);
          void (reply as FastifyReply).send(err);
          return;
        }
        if (state.state !== 'pending' || now >= deadline || ctx.closing.value) finish({ ...state, waited_ms: now - startedAt });
      };
      reply.raw.once('close', () => {
        done = true;
        remove?.();
        if (timer) clearTimeout(timer);
      });
      check();
      if (!done) {
        remove = waits.add({ check });
        timer = setTimeout(check, deadline - startedAt);
      }
    },
  );
}

/** Pre-serialised text either way: the response schema documents the JSON, it does not re-check it. */
function send(reply: FastifyReply, answer: FleetWaitAnswer, text: boolean): void {
  if (text) void reply.type('text/plain; charset=utf-8').send(waitAnswerText(answer));
  else void reply.type('application/json; charset=utf-8').send(JSON.stringify(answer));
}
