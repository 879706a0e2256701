/** /healthz says the process answers; /readyz says the database takes writes. */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { RouteOptions } from '../context.js';
import { AppError } from '../errors.js';
import { errorResponses, healthSchema, readySchema } from '../protocol/api.js';

export async function healthRoutes(fastify: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();

  app.get('/healthz', { schema: { summary: 'The process answers', response: { 200: healthSchema } } }, async () => ({
    status: 'ok' as const,
  }));

  app.get('/readyz', { schema: { summary: 'The database takes writes', response: { 200: readySchema, ...errorResponses } } }, async () => {
    if (ctx.closing.value) throw new AppError('SHUTTING_DOWN', 'the receiver is shutting down', 5);
    const blockedBy = ctx.health.writeBlockedBy();
    if (blockedBy !== undefined) throw new AppError('STORAGE_UNAVAILABLE', `database not writable: ${blockedBy}`, 5);
    return { status: 'ready' as const };
  });
}
