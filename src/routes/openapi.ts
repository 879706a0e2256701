/** GET /openapi.json: the OpenAPI description of the whole API, generated from the route schemas. */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { RouteOptions } from '../context.js';
import { requireReadToken } from '../plugins/read-auth.js';
import { errorResponses } from '../protocol/api.js';

const documentSchema = z.looseObject({ openapi: z.string(), info: z.looseObject({}), paths: z.record(z.string(), z.unknown()) });

export async function openapiRoutes(fastify: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  requireReadToken(app, ctx.config.readToken);
  app.get(
    '/openapi.json',
    { schema: { summary: 'This description', response: { 200: documentSchema, ...errorResponses } } },
    // @fastify/swagger builds the document once, from every route's schema, and caches it.
    async () => app.swagger() as z.infer<typeof documentSchema>,
  );
}
