/**
 * The expected fleet's API: PUT /fleet (declare), GET /fleet (every expected VM and coverage) and
 * GET /fleet/wait (one long-poll for many VMs). The only source of these types.
 */
import { z } from 'zod';
import { hostStatuses } from './status.js';
import { timeParam } from './api.js';
import { safeRecord } from './events.js';

export const FLEET_MAX_VMS = 10_000;

const label = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, 'expected a label name: letters, digits, _ . -');

export const declaredVmSchema = z.strictObject({
  name: z
    .string()
    .min(1)
    .max(253)
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'expected a hostname'),
  vmid: z.number().int().min(100, 'expected a Proxmox VMID (100 to 999999999)').max(999_999_999).optional(),
  ip: z.union([z.ipv4(), z.ipv6()], { message: 'expected an IPv4 or IPv6 address' }).optional(),
  labels: safeRecord(label, z.string().max(256)).optional(),
});
export type DeclaredVm = z.infer<typeof declaredVmSchema>;

/** Duplicate names or VMIDs would make two entries claim one VM. */
export const fleetBodySchema = z
  .strictObject({
    vms: z.array(declaredVmSchema).max(FLEET_MAX_VMS, `at most ${FLEET_MAX_VMS} VMs in one fleet`),
  })
  .superRefine((body, ctx) => {
    const seen = { name: new Map<string, number>(), vmid: new Map<number, number>() };
    body.vms.forEach((vm, i) => {
      const name = seen.name.get(vm.name);
      if (name !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['vms', i, 'name'],
          message: `duplicate name ${JSON.stringify(vm.name)} (also vms[${name}])`,
        });
      else seen.name.set(vm.name, i);
      if (vm.vmid === undefined) return;
      const vmid = seen.vmid.get(vm.vmid);
      if (vmid !== undefined)
        ctx.addIssue({ code: 'custom', path: ['vms', i, 'vmid'], message: `duplicate vmid ${vm.vmid} (also vms[${vmid}])` });
      else seen.vmid.set(vm.vmid, i);
    });
  });
export type FleetBody = z.infer<typeof fleetBodySchema>;

/** A VM as Proxmox discovery reports it. */
export const discoveredVmSchema = z.object({
  vmid: z.number().int().positive(),
  name: z.string().min(1).max(253),
  node: z.string().max(253).nullable(),
  status: z.string().max(32),
});
export type DiscoveredVm = z.infer<typeof discoveredVmSchema>;

const iso = z.string();

export const expectedVmSchema = z.object({
  name: z.string(),
  vmid: z.number().nullable(),
  ip: z.string().nullable(),
  labels: z.record(z.string(), z.string()),
  sources: z.array(z.enum(['declared', 'proxmox'])),
  node: z.string().nullable(),
  power: z.string().nullable(),
  expected_since: iso,
  host_id: z.number().nullable(),
  status: z.enum(hostStatuses),
  reported: z.boolean(),
  /** What is known, in one line. */
  summary: z.string(),
  /** What an operator checks next. */
  next_step: z.string(),
});
export type ExpectedVm = z.infer<typeof expectedVmSchema>;

export const fleetAnswerSchema = z.object({
  expected: z.number(),
  reported: z.number(),
  /** reported ÷ expected, 0 to 1 (1 for an empty fleet). */
  coverage: z.number(),
  by_status: z.record(z.enum(hostStatuses), z.number()),
  vms: z.array(expectedVmSchema),
});
export type FleetAnswer = z.infer<typeof fleetAnswerSchema>;

export const fleetQuerySchema = z.strictObject({
  status: z.enum(hostStatuses).optional(),
});

const flag = z.enum(['1', '0', 'true', 'false']).transform((v) => v === '1' || v === 'true');

export const fleetWaitQuerySchema = z
  .strictObject({
    vm: z.union([z.string().min(1).max(253), z.array(z.string().min(1).max(253)).max(FLEET_MAX_VMS)]).optional(),
    all: flag.optional(),
    keep_going: flag.optional(),
    timeout: z.coerce.number().min(0).max(3600).default(30),
    since: timeParam.optional(),
  })
  .refine((q) => q.all === true || q.vm !== undefined, { message: 'name VMs with vm=… (repeatable) or ask for all=1', path: ['vm'] });
export type FleetWaitQuery = z.infer<typeof fleetWaitQuerySchema>;

export const waitStates = ['succeeded', 'failed', 'pending'] as const;

export const fleetWaitVmSchema = z.object({
  vm: z.string(),
  status: z.enum(hostStatuses),
  done: z.boolean(),
  ok: z.boolean(),
  summary: z.string(),
  next_step: z.string(),
  host_id: z.number().nullable(),
  run_id: z.string().nullable(),
});
export type FleetWaitVm = z.infer<typeof fleetWaitVmSchema>;

export const fleetWaitAnswerSchema = z.object({
  state: z.enum(waitStates),
  waited_ms: z.number(),
  vms: z.array(fleetWaitVmSchema),
});
export type FleetWaitAnswer = z.infer<typeof fleetWaitAnswerSchema>;
