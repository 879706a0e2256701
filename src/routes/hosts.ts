/** GET /hosts (fleet), GET /hosts/:host (any identity) and the long-poll GET /hosts/:host/wait. */
import type { FastifyInstance } from 'fastify';
import type { AppContext, RouteOptions } from '../context.js';
import { AppError } from '../errors.js';
import { readAuth } from '../plugins/read-auth.js';
import { hostParamsSchema, hostsQuerySchema, waitQuerySchema, type WaitAnswer } from '../protocol/api.js';
import { parseOr } from '../validation.js';

const isFinished = (status: string) => status === 'succeeded' || status === 'failed';

/** Current answer for a waiter: finished when the host's latest run since `since` is done. */
function lookup(ctx: AppContext, identity: string, since: number, startedAt: number): { hostId?: number; answer: WaitAnswer } {
  const hostId = ctx.query.findHostId(identity);
  const host = hostId === undefined ? undefined : ctx.query.hostById(hostId);
  const run = hostId === undefined ? undefined : ctx.query.latestRunSince(hostId, since);
  return {
    ...(hostId === undefined ? {} : { hostId }),
    answer: {
      finished: run !== undefined && isFinished(run.status),
      host: host ?? null,
      run: run ?? null,
      waited_ms: ctx.clock() - startedAt,
    },
  };
}

/** Sleeps until woken by a finished run of the host, the deadline, a closing app or a gone client. */
function sleep(ctx: AppContext, hostId: number | undefined, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      remove();
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    const remove = ctx.waiters.add(hostId, { wake: done });
    signal.addEventListener('abort', done);
  });
}

export async function hostRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  app.addHook('onRequest', readAuth(ctx.config.readToken));

  app.get('/hosts', async (request) => ctx.query.fleet(parseOr(hostsQuerySchema, request.query, 'INVALID_QUERY')));

  app.get('/hosts/:host', async (request) => {
    const { host } = parseOr(hostParamsSchema, request.params, 'INVALID_PARAMS');
    const found = ctx.query.hostDetail(host);
    if (!found) throw new AppError('NOT_FOUND', `no host known by ${JSON.stringify(host)} (hostname, IP, machine-id, instance-id or VMID)`);
    return found;
  });

  // 200: a finished run (its status says succeeded or failed). 202: still waiting at the timeout;
  // the body shows progress. A host not known yet is waited for, since VMs report after they boot.
  app.get('/hosts/:host/wait', async (request, reply) => {
    const { host } = parseOr(hostParamsSchema, request.params, 'INVALID_PARAMS');
    const query = parseOr(waitQuerySchema, request.query, 'INVALID_QUERY');
    const startedAt = ctx.clock();
    const deadline = startedAt + Math.min(query.timeout, ctx.config.maxWaitSeconds) * 1000;
    const since = query.since ?? 0;
    const gone = new AbortController();
    // The response's close fires when the client hangs up before we answer.
    reply.raw.once('close', () => gone.abort());

    let state = lookup(ctx, host, since, startedAt);
    while (!state.answer.finished && ctx.clock() < deadline && !ctx.closing.value && !gone.signal.aborted) {
      await sleep(ctx, state.hostId, deadline - ctx.clock(), gone.signal);
      state = lookup(ctx, host, since, startedAt);
    }
    return reply.code(state.answer.finished ? 200 : 202).send(state.answer);
  });
}
