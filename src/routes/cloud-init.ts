/**
 * cloud-init's own reports, keyed by the VM in the path:
 * POST /cloud-init/:vm/events (reporting webhook) and POST /cloud-init/:vm/phone-home.
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { RouteOptions } from '../context.js';
import { AppError } from '../errors.js';
import { errorResponses } from '../protocol/api.js';
import { createVmKeys } from '../auth/vm-keys.js';
import {
  capabilityQuerySchema,
  phoneHomeAnswerSchema,
  phoneHomeSchema,
  reportAnswerSchema,
  reportingEventSchema,
  vmParamsSchema,
} from '../protocol/cloud-init.js';
import { Trust } from '../store/host-writer.js';
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

  const vmKeys = createVmKeys(ctx.config.vmKeyMasters);
  /**
   * What a report's token proves: the VM's own token speaks for it like its key; a wrong token is
   * refused; no token at all is allowed (as an unauthenticated report) unless keys are required.
   */
  const trustOf = (vm: string, token: string | undefined): Trust => {
    if (token !== undefined && token !== '' && vmKeys.enabled) {
      if (vmKeys.tokenMatches(vm, token)) return Trust.vmKey;
      throw new AppError('UNAUTHORIZED', `the token is not the cloud-init token of ${JSON.stringify(vm)}`);
    }
    if (ctx.config.requireVmKeys)
      throw new AppError(
        'VM_KEY_REQUIRED',
        "this receiver takes cloud-init reports only with the VM's token (?token=…, rendered by the template)",
      );
    return Trust.none;
  };

  /** Stores one report in its own transaction, then its effects; returns the host id. */
  const record = (
    vm: string,
    identity: PartialIdentity,
    report: Omit<CloudInitReport, 'time'> & { time?: number },
    address: string,
    trust: Trust,
  ) => {
    const now = ctx.clock();
    const hostId = ctx.ingest.recordCloudInit(vm, identity, { ...report, time: report.time ?? now }, address, now, trust);
    ctx.effects.cloudInitRecorded(report, hostId);
    return hostId;
  };

  const config = { invalidBody: 'INVALID_REPORT' } as const;

  app.post(
    '/cloud-init/:vm/events',
    {
      config,
      schema: {
        summary: "cloud-init's reporting webhook",
        params: vmParamsSchema,
        querystring: capabilityQuerySchema,
        body: reportingEventSchema,
        response: { 200: reportAnswerSchema, ...errorResponses },
      },
    },
    async (request) => {
      const { vm } = request.params;
      const trust = trustOf(vm, request.query.token);
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
        trust,
      );
      return { host_id: hostId, stored: true as const };
    },
  );

  app.post(
    '/cloud-init/:vm/phone-home',
    {
      config,
      schema: {
        summary: "cloud-init's phone_home module (registers the host)",
        params: vmParamsSchema,
        querystring: capabilityQuerySchema,
        body: phoneHomeSchema,
        response: { 200: phoneHomeAnswerSchema, ...errorResponses },
      },
    },
    async (request) => {
      const { vm } = request.params;
      const trust = trustOf(vm, request.query.token);
      const form = request.body;
      const identity = { instance_id: form.instance_id, hostname: form.hostname };
      const hostId = record(vm, identity, { source: 'phone_home', name: 'phone_home', description: form.fqdn ?? null }, request.ip, trust);
      return { host_id: hostId, registered: true as const };
    },
  );
}
