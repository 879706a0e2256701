/**
 * Event protocol v1: the single source of truth for what `POST /webhook` accepts.
 * docs/protocol.md describes it for people; every type in the service comes from here.
 */
import { z } from 'zod';
import { inTimeRange, TIME_RANGE_TEXT } from './time.js';

/** Caps that keep one event small; the callback plugin truncates below them. */
export const LIMITS = {
  messageChars: 8192,
  nameChars: 1024,
  urlChars: 2048,
  batchEvents: 1000,
  ips: 32,
} as const;

const uuid = z.uuid({ message: 'expected a UUID' });
const name = z.string().max(LIMITS.nameChars);
const count = z.number().int().nonnegative();
/** Whether an ISO 8601 date-time is within the range the service stores (src/protocol/time.ts). */
export const timeInRange = (iso: string) => inTimeRange(Date.parse(iso));
const timestamp = z.iso
  .datetime({ offset: true, message: 'expected an ISO 8601 date-time, e.g. 2026-01-31T12:00:00Z' })
  .refine(timeInRange, `expected a time ${TIME_RANGE_TEXT}`);

/**
 * Names used as object keys (stats by inventory name, labels) must not be ones objects inherit:
 * zod drops a `__proto__` key silently, so a run's failed stats would vanish. Refused on the raw
 * input, before the record is built.
 */
const RESERVED_KEYS = ['__proto__', 'constructor', 'prototype'];
export const safeRecord = <K extends z.ZodType<string>, V extends z.ZodType>(key: K, value: V) =>
  z.preprocess(
    (input, ctx) => {
      if (input !== null && typeof input === 'object') {
        for (const k of RESERVED_KEYS) {
          if (Object.hasOwn(input, k))
            ctx.addIssue({ code: 'custom', path: [k], message: 'is a reserved name (__proto__, constructor, prototype)', input });
        }
      }
      return input;
    },
    z.record(key, value),
  );

/** Which VM sent the event: under ansible-pull the inventory name is always localhost. */
export const hostIdentitySchema = z.strictObject({
  hostname: z.string().min(1).max(253),
  machine_id: z
    .string()
    .regex(/^[0-9a-f]{32}$/, 'expected 32 lowercase hex digits (/etc/machine-id)')
    .optional(),
  instance_id: z.string().min(1).max(128).optional(),
  vmid: z.number().int().positive().max(999_999_999).optional(),
  ips: z
    .array(z.union([z.ipv4(), z.ipv6()]))
    .max(LIMITS.ips)
    .optional(),
});

/** Ansible's task outcomes: the one list behind task results, host stats and a run's task counters. */
export const taskStatuses = ['ok', 'changed', 'failed', 'skipped', 'unreachable', 'rescued', 'ignored'] as const;
export const taskStatusSchema = z.enum(taskStatuses);

/** An object with one `value` per task status, e.g. a zero counter or a schema per counter. */
export function perTaskStatus<T>(value: (status: (typeof taskStatuses)[number]) => T): Record<(typeof taskStatuses)[number], T> {
  return Object.fromEntries(taskStatuses.map((s) => [s, value(s)])) as Record<(typeof taskStatuses)[number], T>;
}

/** Ansible's per-host stats, as `stats.summarize(host)` returns them. */
export const hostStatsSchema = z.strictObject(perTaskStatus(() => count));

const runStartedData = z.strictObject({
  playbook: name,
  repo_url: z.string().max(LIMITS.urlChars).optional(),
  commit: z
    .string()
    .regex(/^[0-9a-f]{7,64}$/, 'expected a git commit hash (hex)')
    .optional(),
  ansible_version: z.string().max(64),
  check_mode: z.boolean().default(false),
});

const taskResultData = z.strictObject({
  play: name,
  task: name,
  action: z.string().max(256),
  /** Inventory name the task ran for; `localhost` under ansible-pull. */
  target: z.string().max(253).optional(),
  status: taskStatusSchema,
  duration_ms: count,
  message: z.string().max(LIMITS.messageChars).optional(),
  /** True when the task had no_log: the plugin then sends no arguments and a censored message. */
  no_log: z.boolean().default(false),
});

const runFinishedData = z.strictObject({
  result: z.enum(['success', 'failed']),
  exit_code: z.number().int().min(0).max(255).optional(),
  duration_ms: count,
  stats: safeRecord(z.string().max(253), hostStatsSchema),
});

export const checkinResults = ['ran', 'skipped', 'pull_failed', 'start_failed'] as const;

/** The wrapper's report of one ansible-pull invocation, sent whether or not the playbook ran. */
const checkinData = z.strictObject({
  result: z.enum(checkinResults),
  exit_code: z.number().int().min(0).max(255),
  commit_before: z
    .string()
    .regex(/^[0-9a-f]{7,64}$/, 'expected a git commit hash (hex)')
    .optional(),
  commit_after: z
    .string()
    .regex(/^[0-9a-f]{7,64}$/, 'expected a git commit hash (hex)')
    .optional(),
  duration_ms: count,
  /** Seconds between periodic pulls; absent or 0 when the VM pulls only at first boot. */
  interval_seconds: z
    .number()
    .int()
    .min(0)
    .max(366 * 86400)
    .optional(),
  repo_url: z.string().max(LIMITS.urlChars).optional(),
  playbook: name.optional(),
  /** The last lines of git's or ansible-pull's error output, credentials removed by the sender. */
  error: z.string().max(LIMITS.messageChars).optional(),
});

const envelope = {
  v: z.literal(1, { message: 'expected protocol version 1' }),
  event_id: uuid,
  run_id: uuid,
  seq: z
    .number()
    .int()
    .nonnegative()
    .max(2 ** 31 - 1),
  time: timestamp,
  host: hostIdentitySchema,
};

export const runStartedSchema = z.strictObject({ ...envelope, kind: z.literal('run_started'), data: runStartedData });
export const taskResultSchema = z.strictObject({ ...envelope, kind: z.literal('task_result'), data: taskResultData });
export const runFinishedSchema = z.strictObject({ ...envelope, kind: z.literal('run_finished'), data: runFinishedData });

export const checkinSchema = z.strictObject({ ...envelope, kind: z.literal('checkin'), data: checkinData });

export const eventSchema = z.discriminatedUnion('kind', [runStartedSchema, taskResultSchema, runFinishedSchema, checkinSchema], {
  // zod's default message for an unknown discriminator does not list the choices.
  error: (issue) =>
    issue.code === 'invalid_union' ? 'expected kind to be one of run_started, task_result, run_finished, checkin' : undefined,
});

export const batchSchema = z.strictObject({
  events: z.array(eventSchema).min(1, 'a batch needs at least one event').max(LIMITS.batchEvents),
});

export type HostIdentity = z.infer<typeof hostIdentitySchema>;
export type HostStats = z.infer<typeof hostStatsSchema>;
export type TaskStatus = z.infer<typeof taskStatusSchema>;
export type WebhookEvent = z.infer<typeof eventSchema>;
export type RunStartedEvent = z.infer<typeof runStartedSchema>;
export type TaskResultEvent = z.infer<typeof taskResultSchema>;
export type RunFinishedEvent = z.infer<typeof runFinishedSchema>;
export type CheckinEvent = z.infer<typeof checkinSchema>;
export type CheckinResult = (typeof checkinResults)[number];

/** Per-event outcome of a delivery. */
export const eventOutcomes = ['stored', 'duplicate'] as const;
export type EventOutcome = (typeof eventOutcomes)[number];
