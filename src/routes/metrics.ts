/** GET /metrics in the Prometheus text format. */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { RouteOptions } from '../context.js';
import { requireReadToken } from '../plugins/read-auth.js';
import { errorResponses } from '../protocol/api.js';

export async function metricsRoutes(fastify: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  requireReadToken(app, ctx.config.readToken);
  const text = { description: 'Prometheus text format', content: { 'text/plain': { schema: z.string() } } };
  app.get(
    '/metrics',
    { schema: { summary: 'Prometheus metrics', response: { 200: text, ...errorResponses } } },
    async (_request, reply) => {
      const body = await ctx.metrics.registry.metrics();
      return reply.type(ctx.metrics.registry.contentType).send(body);
    },
  );
}
