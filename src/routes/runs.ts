/** GET /runs and GET /runs/:id: run history with cursor pagination, and one run with its tasks. */
import type { FastifyInstance } from 'fastify';
import type { RouteOptions } from '../context.js';
import { AppError } from '../errors.js';
import { requireReadToken } from '../plugins/read-auth.js';
import { runParamsSchema, runsQuerySchema } from '../protocol/api.js';
import { parseOr } from '../validation.js';

export async function runRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  requireReadToken(app, ctx.config.readToken);

  app.get('/runs', async (request) => {
    const query = parseOr(runsQuerySchema, request.query, 'INVALID_QUERY');
    if (query.since !== undefined && query.until !== undefined && query.until < query.since) {
      throw new AppError('INVALID_QUERY', 'until: must not be before since');
    }
    return ctx.query.runs(query);
  });

  app.get('/runs/:id', async (request) => {
    const { id } = parseOr(runParamsSchema, request.params, 'INVALID_PARAMS');
    const run = ctx.query.run(id);
    if (!run) throw new AppError('NOT_FOUND', `no run with id ${id}`);
    return run;
  });
}
