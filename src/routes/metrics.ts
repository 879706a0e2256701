/** GET /metrics in the Prometheus text format. */
import type { FastifyInstance } from 'fastify';
import type { RouteOptions } from '../context.js';
import { readAuth } from '../plugins/read-auth.js';

export async function metricsRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  app.addHook('onRequest', readAuth(ctx.config.readToken));
  app.get('/metrics', async (_request, reply) => {
    const body = await ctx.metrics.registry.metrics();
    return reply.type(ctx.metrics.registry.contentType).send(body);
  });
}
