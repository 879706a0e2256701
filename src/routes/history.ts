/** GET /changes, GET /runs/:id/diff and GET /tasks: what changed across the fleet, and why. */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { RouteOptions } from '../context.js';
import { AppError } from '../errors.js';
import { requireReadToken } from '../plugins/read-auth.js';
import { errorResponses, runParamsSchema } from '../protocol/api.js';
import {
  changesPageSchema,
  changesQuerySchema,
  diffQuerySchema,
  runDiffSchema,
  tasksAnswerSchema,
  tasksQuerySchema,
} from '../protocol/history.js';

/** until before since is a mistake worth naming, not an empty answer. */
function checkWindow(q: { since?: number | undefined; until?: number | undefined }): void {
  if (q.since !== undefined && q.until !== undefined && q.until < q.since)
    throw new AppError('INVALID_QUERY', 'until: must not be before since');
}

export async function historyRoutes(fastify: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  requireReadToken(app, ctx.config.readToken);

  app.get(
    '/changes',
    {
      schema: {
        summary: 'Changed tasks across the fleet with why they changed, the latest recorded first',
        querystring: changesQuerySchema,
        response: { 200: changesPageSchema, ...errorResponses },
      },
    },
    async (request) => {
      const query = request.query;
      checkWindow(query);
      let hostId: number | null = null;
      if (query.host !== undefined) {
        const found = ctx.query.findHostId(query.host);
        if (found === undefined) return { changes: [], next_cursor: null };
        hostId = found;
      }
      return ctx.history.changes(query, hostId);
    },
  );

  app.get(
    '/runs/:id/diff',
    {
      schema: {
        summary: "A run compared with the host's previous run (or ?against=): status changes, new and gone tasks, the commit",
        params: runParamsSchema,
        querystring: diffQuerySchema,
        response: { 200: runDiffSchema, ...errorResponses },
      },
    },
    async (request) => {
      const { id } = request.params;
      const diff = ctx.history.diff(id, request.query.against);
      if (!diff) throw new AppError('NOT_FOUND', `no run with id ${id}`);
      return diff;
    },
  );

  app.get(
    '/tasks',
    {
      schema: {
        summary: 'Per task across the fleet: ok, changed and failed counts and the slowest hosts',
        querystring: tasksQuerySchema,
        response: { 200: tasksAnswerSchema, ...errorResponses },
      },
    },
    async (request) => {
      checkWindow(request.query);
      return ctx.history.tasks(request.query);
    },
  );
}
