/**
 * What cloud-init itself sends: the `reporting` webhook handler's events (JSON, no Content-Type)
 * and the `phone_home` module's form post. Their bodies carry no identity: the URL names the VM.
 */
import { z } from 'zod';
import { inTimeRange, TIME_RANGE_TEXT } from './time.js';

export const reportingEventSchema = z.looseObject({
  name: z.string().min(1).max(512),
  event_type: z.enum(['start', 'finish']),
  origin: z.string().max(64).optional(),
  /** Unix seconds, as cloud-init sends them. */
  timestamp: z.number().refine((t) => inTimeRange(t * 1000), `expected Unix seconds ${TIME_RANGE_TEXT}`),
  description: z.string().max(4096).optional(),
  result: z.enum(['SUCCESS', 'WARN', 'FAIL']).optional(),
});
export type ReportingEvent = z.infer<typeof reportingEventSchema>;

/** phone_home posts instance_id, hostname, fqdn and public keys; the keys are not kept. */
export const phoneHomeSchema = z.looseObject({
  instance_id: z.string().min(1).max(128),
  hostname: z.string().min(1).max(253).optional(),
  fqdn: z.string().max(253).optional(),
});
export type PhoneHome = z.infer<typeof phoneHomeSchema>;

export const vmParamsSchema = z.strictObject({
  vm: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,252}$/, 'expected a hostname, instance id, IP or VMID'),
});

/** The VM's capability token (docs/security.md), rendered into its cloud-init URLs by the template. */
export const capabilityQuerySchema = z.strictObject({
  token: z
    .string()
    .max(128)
    .regex(/^[0-9a-f]*$/, 'expected the hex token the template renders')
    .optional(),
});

export const reportAnswerSchema = z.strictObject({ host_id: z.number(), stored: z.literal(true) });
export const phoneHomeAnswerSchema = z.strictObject({ host_id: z.number(), registered: z.literal(true) });
