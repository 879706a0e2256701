/**
 * cloud-init's own reports, keyed by the VM in the path:
 * POST /cloud-init/:vm/events (reporting webhook) and POST /cloud-init/:vm/phone-home.
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { RouteOptions } from '../context.js';
import { AppError } from '../errors.js';
import { errorResponses } from '../protocol/api.js';
import { phoneHomeAnswerSchema, phoneHomeSchema, reportAnswerSchema, reportingEventSchema, vmParamsSchema } from '../protocol/cloud-init.js';
import type { CloudInitReport, PartialIdentity } from '../store/ingest-store.js';

const REPORT_BODY_LIMIT = 64 * 1024;

export async function cloudInitRoutes(fastify: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  // cloud-init posts its JSON with no Content-Type and phone_home posts a form: accept both here.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: REPORT_BODY_LIMIT }, (request, body, done) => {
    const text = body as string;
    const type = request.headers['content-type'] ?? '';
    if (type.startsWith('application/x-www-form-urlencoded') && !text.trimStart().startsWith('{')) {
      return done(null, Object.fromEntries(new URLSearchParams(text)));
    }
    try {
      done(null, JSON.parse(text));
    } catch (err) {
      done(new AppError('INVALID_JSON', `request body is not valid JSON: ${(err as Error).message}`));
    }
  });

  app.addHook('onRequest', async () => {
    if (ctx.closing.value) throw new AppError('SHUTTING_DOWN', 'the receiver is shutting down; retry shortly', 5);
  });

  /** Stores one report in its own transaction, then its effects; returns the host id. */
  const record = (vm: string, identity: PartialIdentity, report: Omit<CloudInitReport, 'time'> & { time?: number }, address: string) => {
    const now = ctx.clock();
    const hostId = ctx.ingest.recordCloudInit(vm, identity, { ...report, time: report.time ?? now }, address, now);
    ctx.effects.cloudInitRecorded(report, hostId);
    return hostId;
  };

  const config = { invalidBody: 'INVALID_REPORT' } as const;

  app.post(
    '/cloud-init/:vm/events',
    { config, schema: { summary: "cloud-init's reporting webhook", params: vmParamsSchema, body: reportingEventSchema, response: { 200: reportAnswerSchema, ...errorResponses } } },
    async (request) => {
      const { vm } = request.params;
      const event = request.body;
      const hostId = record(
        vm,
        {},
        {
          source: 'reporting',
          name: event.name,
          event_type: event.event_type,
          result: event.result ?? null,
          description: event.description ?? null,
          time: Math.round(event.timestamp * 1000),
        },
        request.ip,
      );
      return { host_id: hostId, stored: true as const };
    },
  );

  app.post(
    '/cloud-init/:vm/phone-home',
    { config, schema: { summary: "cloud-init's phone_home module (registers the host)", params: vmParamsSchema, body: phoneHomeSchema, response: { 200: phoneHomeAnswerSchema, ...errorResponses } } },
    async (request) => {
      const { vm } = request.params;
      const form = request.body;
      const identity = { instance_id: form.instance_id, hostname: form.hostname };
      const hostId = record(vm, identity, { source: 'phone_home', name: 'phone_home', description: form.fqdn ?? null }, request.ip);
      return { host_id: hostId, registered: true as const };
    },
  );
}
