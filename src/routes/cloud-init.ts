/**
 * cloud-init's own reports, keyed by the VM in the path:
 * POST /cloud-init/:vm/events (reporting webhook) and POST /cloud-init/:vm/phone-home.
 */
import type { FastifyInstance } from 'fastify';
import type { RouteOptions } from '../context.js';
import { AppError } from '../errors.js';
import { phoneHomeSchema, reportingEventSchema, vmParamsSchema } from '../protocol/cloud-init.js';
import type { CloudInitReport, PartialIdentity } from '../store/ingest-store.js';
import { parseOr } from '../validation.js';

const REPORT_BODY_LIMIT = 64 * 1024;

export async function cloudInitRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
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
    ctx.effects.cloudInitRecorded(report.source, hostId);
    return hostId;
  };

  app.post('/cloud-init/:vm/events', async (request) => {
    const { vm } = parseOr(vmParamsSchema, request.params, 'INVALID_PARAMS');
    const event = parseOr(reportingEventSchema, request.body, 'INVALID_REPORT');
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
    return { host_id: hostId, stored: true };
  });

  app.post('/cloud-init/:vm/phone-home', async (request) => {
    const { vm } = parseOr(vmParamsSchema, request.params, 'INVALID_PARAMS');
    const form = parseOr(phoneHomeSchema, request.body, 'INVALID_REPORT');
    const identity = { instance_id: form.instance_id, hostname: form.hostname };
    const hostId = record(vm, identity, { source: 'phone_home', name: 'phone_home', description: form.fqdn ?? null }, request.ip);
    return { host_id: hostId, registered: true };
  });
}
