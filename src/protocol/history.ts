/**
 * Schemas of the history answers: changed tasks across the fleet (GET /changes), a run compared
 * with another (GET /runs/:id/diff) and tasks across the fleet (GET /tasks). Tests parse real
 * answers with these.
 */
import { z } from 'zod';
import { taskStatusSchema } from './events.js';
import { taskChanges } from './status.js';
import { timeParam } from './api.js';

const iso = z.string();

export const changesQuerySchema = z.strictObject({
  since: timeParam.optional(),
  until: timeParam.optional(),
  host: z.string().min(1).max(253).optional(),
  change: z.enum(taskChanges).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: z.string().max(200).optional(),
});
export type ChangesQuery = z.infer<typeof changesQuerySchema>;

/** A task by its key across runs (docs/drift.md): play, task name, occurrence. */
const taskKeyFields = { play: z.string(), task: z.string(), occurrence: z.number() };

export const taskChangeSchema = z.object({
  /** The task's result, by the VM's clock. */
  time: iso,
  /** When the receiver recorded the change (its run's finish arrived), by its own clock: the list's order. */
  recorded_at: iso,
  host_id: z.number(),
  hostname: z.string(),
  run_id: z.string(),
  commit: z.string().nullable(),
  ...taskKeyFields,
  action: z.string(),
  change: z.enum(taskChanges),
  duration_ms: z.number(),
});
export type TaskChangeRow = z.infer<typeof taskChangeSchema>;

export const changesPageSchema = z.object({ changes: z.array(taskChangeSchema), next_cursor: z.string().nullable() });
export type ChangesPage = z.infer<typeof changesPageSchema>;

export const diffQuerySchema = z.strictObject({
  against: z.uuid({ message: 'expected a run id (UUID)' }).optional(),
});

const keyedStatus = z.object({ ...taskKeyFields, status: taskStatusSchema });

export const runDiffSchema = z.object({
  run_id: z.string(),
  /** The run compared with: `against`, else the host's previous run; null when there is none. */
  against: z.string().nullable(),
  commit: z.object({ from: z.string().nullable(), to: z.string().nullable(), changed: z.boolean() }),
  /** Tasks in both runs whose status differs. */
  status_changed: z.array(z.object({ ...taskKeyFields, from: taskStatusSchema, to: taskStatusSchema })),
  /** Tasks in this run only. */
  new: z.array(keyedStatus),
  /** Tasks in the other run only. */
  gone: z.array(keyedStatus),
});
export type RunDiff = z.infer<typeof runDiffSchema>;

export const tasksQuerySchema = z.strictObject({
  since: timeParam.optional(),
  until: timeParam.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(200),
});
export type TasksQuery = z.infer<typeof tasksQuerySchema>;

export const taskStatsSchema = z.object({
  ...taskKeyFields,
  results: z.number(),
  ok: z.number(),
  changed: z.number(),
  /** failed or unreachable */
  failed: z.number(),
  skipped: z.number(),
  avg_ms: z.number(),
  /** Up to three hosts where the task took longest in the window, slowest first. */
  slowest: z.array(z.object({ hostname: z.string(), run_id: z.string(), duration_ms: z.number() })),
});

export const tasksAnswerSchema = z.object({ since: iso.nullable(), until: iso.nullable(), tasks: z.array(taskStatsSchema) });
export type TasksAnswer = z.infer<typeof tasksAnswerSchema>;
