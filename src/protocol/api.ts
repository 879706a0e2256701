/**
 * Schemas of the query API: querystrings it accepts and the JSON it answers with.
 * Tests parse real answers with these, so the documented shape and the served one cannot drift.
 */
import { z } from 'zod';
import { hostStatuses, runOutcomes, runStatuses, taskChanges } from './status.js';
import { eventOutcomes, hostStatsSchema, perTaskStatus, taskStatusSchema } from './events.js';
import { inTimeRange, TIME_RANGE_TEXT } from './time.js';

/** Accepts ISO 8601 or Unix seconds, as operators and CI scripts write times. */
export const timeParam = z.string().transform((v, ctx) => {
  const ms = /^\d+(\.\d+)?$/.test(v) ? Number(v) * 1000 : Date.parse(v);
  if (Number.isNaN(ms)) {
    ctx.addIssue({ code: 'custom', message: 'expected an ISO 8601 time or Unix seconds' });
    return z.NEVER;
  }
  if (!inTimeRange(ms)) {
    ctx.addIssue({ code: 'custom', message: `expected a time ${TIME_RANGE_TEXT}` });
    return z.NEVER;
  }
  return ms;
});

export const runsQuerySchema = z.strictObject({
  host: z.string().min(1).max(253).optional(),
  status: z.enum(runStatuses).optional(),
  outcome: z.enum(runOutcomes).optional(),
  since: timeParam.optional(),
  until: timeParam.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(200).optional(),
});
export type RunsQuery = z.infer<typeof runsQuerySchema>;

export const hostsQuerySchema = z.strictObject({
  status: z.enum(hostStatuses).optional(),
  /** The outcome of the host's latest run. */
  outcome: z.enum(runOutcomes).optional(),
  q: z.string().min(1).max(253).optional(),
});
export type HostsQuery = z.infer<typeof hostsQuerySchema>;

export const waitQuerySchema = z.strictObject({
  timeout: z.coerce.number().min(0).max(3600).default(30),
  since: timeParam.optional(),
});

export const hostParamsSchema = z.strictObject({ host: z.string().min(1).max(253) });
export const runParamsSchema = z.strictObject({ id: z.uuid({ message: 'expected a run id (UUID)' }) });

const iso = z.string();

export const taskCountsSchema = z.object({ total: z.number(), ...perTaskStatus(() => z.number()) });

/** Changed tasks by classification (docs/drift.md). */
export const driftCountsSchema = z.object(
  Object.fromEntries(taskChanges.map((c) => [c, z.number()])) as Record<(typeof taskChanges)[number], z.ZodNumber>,
);

export const runSummarySchema = z.object({
  run_id: z.string(),
  host_id: z.number(),
  hostname: z.string(),
  status: z.enum(runStatuses),
  started_at: iso,
  finished_at: iso.nullable(),
  last_event_at: iso,
  playbook: z.string().nullable(),
  repo_url: z.string().nullable(),
  commit: z.string().nullable(),
  ansible_version: z.string().nullable(),
  check_mode: z.boolean().nullable(),
  result: z.string().nullable(),
  exit_code: z.number().nullable(),
  duration_ms: z.number().nullable(),
  stats: z.record(z.string(), hostStatsSchema).nullable(),
  tasks: taskCountsSchema,
  /** Null until the run finished. */
  outcome: z.enum(runOutcomes).nullable(),
  drift: driftCountsSchema,
  source_address: z.string().nullable(),
});
export type RunSummary = z.infer<typeof runSummarySchema>;

export const taskRowSchema = z.object({
  seq: z.number(),
  time: iso,
  play: z.string(),
  task: z.string(),
  action: z.string(),
  target: z.string().nullable(),
  status: taskStatusSchema,
  duration_ms: z.number(),
  message: z.string().nullable(),
  no_log: z.boolean(),
  /** Its place among tasks of the same name in the play (1 for the first): the task key's third part. */
  occurrence: z.number(),
  /** Why a changed task changed, once the run finished; null otherwise. */
  change: z.enum(taskChanges).nullable(),
});
export type TaskRow = z.infer<typeof taskRowSchema>;

export const runDetailSchema = runSummarySchema.extend({ task_results: z.array(taskRowSchema) });
export type RunDetail = z.infer<typeof runDetailSchema>;

export const hostSummarySchema = z.object({
  id: z.number(),
  hostname: z.string(),
  machine_id: z.string().nullable(),
  instance_id: z.string().nullable(),
  vmid: z.number().nullable(),
  ips: z.array(z.string()),
  status: z.enum(hostStatuses),
  first_seen_at: iso,
  last_seen_at: iso,
  last_address: z.string().nullable(),
  registered_at: iso.nullable(),
  /** Changed tasks by classification since the host was first seen, and its newest corrective change. */
  drift: driftCountsSchema.extend({ last_corrective_at: iso.nullable() }),
  latest_run: runSummarySchema.nullable(),
});
export type HostSummary = z.infer<typeof hostSummarySchema>;

export const cloudInitEventSchema = z.object({
  source: z.enum(['reporting', 'phone_home']),
  name: z.string(),
  event_type: z.string().nullable(),
  result: z.string().nullable(),
  description: z.string().nullable(),
  time: iso,
  received_at: iso,
});
export type CloudInitEvent = z.infer<typeof cloudInitEventSchema>;

/** How many of its latest runs GET /hosts/:host (and the host page) shows; /runs pages through all. */
export const HOST_RUNS_SHOWN = 20;

export const checkinSummarySchema = z.object({
  event_id: z.string(),
  run_id: z.string(),
  result: z.string(),
  exit_code: z.number(),
  commit_before: z.string().nullable(),
  commit_after: z.string().nullable(),
  duration_ms: z.number(),
  interval_seconds: z.number().nullable(),
  repo_url: z.string().nullable(),
  playbook: z.string().nullable(),
  error: z.string().nullable(),
  time: iso,
  received_at: iso,
});
export type CheckinSummary = z.infer<typeof checkinSummarySchema>;

export const hostDetailSchema = hostSummarySchema.extend({
  runs: z.array(runSummarySchema),
  cloud_init: z.array(cloudInitEventSchema),
  /** The newest check-ins (one per ansible-pull invocation), newest first. */
  checkins: z.array(checkinSummarySchema),
  /** When the host became expected (PUT /fleet or Proxmox), or null when it is not. */
  expected_since: iso.nullable(),
  /** What is known, in one line, and what an operator checks next. */
  summary: z.string(),
  next_step: z.string(),
});
export type HostDetail = z.infer<typeof hostDetailSchema>;

export const fleetSchema = z.object({
  total: z.number(),
  by_status: z.record(z.enum(hostStatuses), z.number()),
  hosts: z.array(hostSummarySchema),
});
export type Fleet = z.infer<typeof fleetSchema>;

export const runsPageSchema = z.object({ runs: z.array(runSummarySchema), next_cursor: z.string().nullable() });
export type RunsPage = z.infer<typeof runsPageSchema>;

export const waitAnswerSchema = z.object({
  /** A run finished (its status says how). */
  finished: z.boolean(),
  host: hostSummarySchema.nullable(),
  run: runSummarySchema.nullable(),
  waited_ms: z.number(),
  /** Set, with a 200, when no run will come: the host's status (boot-failed, pull-failed, missing, stopped). */
  status: z.enum(hostStatuses).optional(),
  summary: z.string().optional(),
  next_step: z.string().optional(),
});
export type WaitAnswer = z.infer<typeof waitAnswerSchema>;

export const deliveryAnswerSchema = z.strictObject({
  accepted: z.number(),
  stored: z.number(),
  duplicates: z.number(),
  results: z.array(z.strictObject({ event_id: z.string(), outcome: z.enum(eventOutcomes) })),
  /** Pacing (src/ingest/pacing.ts): gather events at least this long before the next delivery. */
  linger_ms: z.number().int().min(0).optional(),
});
export type DeliveryAnswer = z.infer<typeof deliveryAnswerSchema>;

export const errorBodySchema = z.strictObject({
  statusCode: z.number().int().min(400).max(599),
  code: z.string(),
  error: z.string(),
  message: z.string(),
});

/** Every route's error answers, for its response schema and the OpenAPI description. */
export const errorResponses = { '4xx': errorBodySchema, '5xx': errorBodySchema } as const;

export const healthSchema = z.strictObject({ status: z.literal('ok') });
export const readySchema = z.strictObject({ status: z.literal('ready') });
