/** /healthz says the process answers; /readyz says the database takes writes. */
import type { FastifyInstance } from 'fastify';
import type { RouteOptions } from '../context.js';
import { AppError } from '../errors.js';

export async function healthRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  // A write that changes nothing still needs the write lock and a writable file.
  const probe = ctx.db.prepare('UPDATE hosts SET id = id WHERE 0');

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async () => {
    if (ctx.closing.value) throw new AppError('SHUTTING_DOWN', 'the receiver is shutting down', 5);
    try {
      ctx.db.transaction(() => probe.run()).immediate();
    } catch (err) {
      throw new AppError('STORAGE_UNAVAILABLE', `database not writable: ${(err as { code?: string }).code ?? 'error'}`, 5);
    }
    return { status: 'ready' };
  });
}
