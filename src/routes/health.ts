/** /healthz says the process answers; /readyz says the database takes writes. */
import type { FastifyInstance } from 'fastify';
import type { RouteOptions } from '../context.js';
import { AppError } from '../errors.js';

export async function healthRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async () => {
    if (ctx.closing.value) throw new AppError('SHUTTING_DOWN', 'the receiver is shutting down', 5);
    const blockedBy = ctx.health.writeBlockedBy();
    if (blockedBy !== undefined) throw new AppError('STORAGE_UNAVAILABLE', `database not writable: ${blockedBy}`, 5);
    return { status: 'ready' };
  });
}
