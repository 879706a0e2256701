/** GET /runs and GET /runs/:id: run history with cursor pagination, and one run with its tasks. */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { RouteOptions } from '../context.js';
import { AppError } from '../errors.js';
import { requireReadToken } from '../plugins/read-auth.js';
import { errorResponses, runDetailSchema, runParamsSchema, runsPageSchema, runsQuerySchema } from '../protocol/api.js';

export async function runRoutes(fastify: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  requireReadToken(app, ctx.config.readToken);

  app.get(
    '/runs',
    {
      schema: { summary: 'Run history, newest first', querystring: runsQuerySchema, response: { 200: runsPageSchema, ...errorResponses } },
    },
    async (request) => {
      const query = request.query;
      if (query.since !== undefined && query.until !== undefined && query.until < query.since) {
        throw new AppError('INVALID_QUERY', 'until: must not be before since');
      }
      return ctx.query.runs(query);
    },
  );

  app.get(
    '/runs/:id',
    {
      schema: {
        summary: 'One run with its task results in order',
        params: runParamsSchema,
        response: { 200: runDetailSchema, ...errorResponses },
      },
    },
    async (request) => {
      const { id } = request.params;
      const run = ctx.query.run(id);
      if (!run) throw new AppError('NOT_FOUND', `no run with id ${id}`);
      return run;
    },
  );
}
