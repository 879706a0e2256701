/** GET /metrics in the Prometheus text format. */
import type { FastifyInstance } from 'fastify';
import type { RouteOptions } from '../context.js';
import { requireReadToken } from '../plugins/read-auth.js';

export async function metricsRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  requireReadToken(app, ctx.config.readToken);
  app.get('/metrics', async (_request, reply) => {
    const body = await ctx.metrics.registry.metrics();
    return reply.type(ctx.metrics.registry.contentType).send(body);
  });
}
