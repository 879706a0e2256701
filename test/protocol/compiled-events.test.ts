/**
 * The compiled check of webhook bodies (src/protocol/compiled-events.ts) never lets through what
 * zod would refuse or change: every body it passes is zod's value, byte for byte once parsed.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import type { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { passesCompiledCheck, unexpressed } from '../../src/protocol/compiled-events.js';
import { batchSchema, eventSchema, LIMITS } from '../../src/protocol/events.js';

/** String formats zod checks with its regular expression alone, which JSON Schema carries as a pattern. */
const PATTERN_ONLY_FORMATS = new Set(['uuid', 'datetime', 'ipv4', 'regex']);
/** Node types whose every rule JSON Schema states. */
const EXPRESSED_TYPES = new Set([
  'object',
  'string',
  'number',
  'boolean',
  'literal',
  'enum',
  'array',
  'optional',
  'default',
  'union',
  'never',
]);

/** Paths (union alternatives and pipes left out) of the parts zod checks beyond their JSON Schema. */
function beyondJsonSchema(schema: z.ZodType): string[] {
  const found = new Set<string>();
  const walk = (s: z.ZodType, path: string): void => {
    const def = s._zod.def as unknown as Record<string, unknown> & {
      type: string;
      checks?: Array<{ _zod: { def: Record<string, unknown> } }>;
    };
    if (!EXPRESSED_TYPES.has(def.type)) found.add(path);
    if (def.type === 'string' && def.format !== undefined && !PATTERN_ONLY_FORMATS.has(def.format as string)) found.add(path);
    for (const check of def.checks ?? []) {
      const c = check._zod.def;
      if (c.check === 'custom') found.add(path);
      if (c.check === 'string_format' && !PATTERN_ONLY_FORMATS.has(c.format as string)) found.add(path);
    }
    const pattern = (s._zod as { bag?: { patterns?: Set<RegExp> } }).bag?.patterns;
    for (const p of pattern ?? []) if (p.flags !== '') found.add(path);
    const join = (key: string) => (path === '' ? key : `${path}.${key}`);
    if (def.type === 'object') {
      for (const [k, v] of Object.entries(def.shape as Record<string, z.ZodType>)) walk(v, join(k));
    } else if (def.type === 'union') {
      for (const o of def.options as z.ZodType[]) walk(o, path);
    } else if (def.type === 'array') walk(def.element as z.ZodType, `${path}[]`);
    else if (def.type === 'optional' || def.type === 'default') walk(def.innerType as z.ZodType, path);
  };
  walk(schema, '');
  return [...found].sort();
}

describe('what JSON Schema cannot say', () => {
  it('is exactly what the compiled check leaves to zod: a new refinement or transform fails here', () => {
    expect(beyondJsonSchema(eventSchema)).toEqual([...unexpressed].sort());
    expect(beyondJsonSchema(batchSchema)).toEqual(unexpressed.map((p) => `events[].${p}`).sort());
  });
});

// ---- events, valid and then broken at one place ----------------------------------------------

const hex = (n: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${n}}$`));
const text = (min: number, max: number) =>
  fc.oneof(fc.string({ minLength: min, maxLength: max }), fc.string({ unit: 'grapheme', minLength: min, maxLength: max }));
/** Mostly a valid value, sometimes one at or past the edge of what the schema allows. */
const edgy = <T, U>(valid: fc.Arbitrary<T>, edge: fc.Arbitrary<U>) =>
  fc.oneof({ weight: 19, arbitrary: valid }, { weight: 1, arbitrary: edge });
const time = edgy(
  fc.date({ min: new Date(0), max: new Date(4.1e12), noInvalidDate: true }).map((d) => d.toISOString()),
  fc.oneof(
    fc.date({ min: new Date(-5e11), max: new Date(5e12), noInvalidDate: true }).map((d) => d.toISOString()),
    fc.constantFrom(
      '2026-11-26T08:00:03+01:00',
      '2026-11-26T08:00Z',
      '2026-02-29T00:00:00Z',
      '2099-12-31T23:30:00-01:00',
      '1970-01-01T00:30:00+01:00',
    ),
  ),
);
const ip = edgy(
  fc.oneof(fc.ipV4(), fc.ipV6()),
  fc.oneof(fc.ipV4Extended(), fc.constantFrom('::ffff:10.0.0.1', '1::2::3', 'fe80::1%eth0', '::', '1:2:3:4:5:6:7:8:9')),
);
const host = fc.record(
  {
    hostname: edgy(text(1, 253), text(0, 260)),
    machine_id: edgy(hex(32), text(31, 33)),
    instance_id: edgy(text(1, 128), text(0, 130)),
    vmid: edgy(fc.integer({ min: 1, max: 999_999_999 }), fc.oneof(fc.integer({ min: -2, max: 2_000_000_000 }), fc.double())),
    ips: edgy(fc.array(ip, { maxLength: LIMITS.ips }), fc.array(ip, { maxLength: LIMITS.ips + 2 })),
  },
  { requiredKeys: ['hostname'] },
);
const count = edgy(fc.nat(), fc.oneof(fc.integer({ min: -3, max: 3 }), fc.constant(2 ** 60), fc.double()));
const status = edgy(fc.constantFrom('ok', 'changed', 'failed', 'skipped', 'unreachable', 'rescued', 'ignored'), fc.constant('bogus'));
const stats = fc.dictionary(
  edgy(fc.constantFrom('localhost', 'web-01'), fc.oneof(fc.constantFrom('__proto__', 'constructor', 'prototype'), text(250, 254))),
  fc.record({ ok: count, changed: count, failed: count, skipped: count, unreachable: count, rescued: count, ignored: count }),
  { maxKeys: 2 },
);
const code = edgy(fc.integer({ min: 0, max: 255 }), fc.integer({ min: -1, max: 256 }));
const commit = edgy(hex(40), text(6, 8));
const dataOf = {
  run_started: fc.record(
    {
      playbook: edgy(text(0, 40), text(1020, 1030)),
      repo_url: text(0, 60),
      commit,
      ansible_version: edgy(text(0, 64), text(60, 70)),
      check_mode: fc.boolean(),
    },
    { requiredKeys: ['playbook', 'ansible_version'] },
  ),
  task_result: fc.record(
    {
      play: text(0, 40),
      task: edgy(text(0, 40), text(1020, 1030)),
      action: text(0, 40),
      target: text(0, 20),
      status,
      duration_ms: count,
      message: text(0, 100),
      no_log: fc.boolean(),
    },
    { requiredKeys: ['play', 'task', 'action', 'status', 'duration_ms'] },
  ),
  run_finished: fc.record(
    { result: edgy(fc.constantFrom('success', 'failed'), fc.constant('maybe')), exit_code: code, duration_ms: count, stats },
    { requiredKeys: ['result', 'duration_ms', 'stats'] },
  ),
  checkin: fc.record(
    {
      result: edgy(fc.constantFrom('ran', 'skipped', 'pull_failed', 'start_failed'), fc.constant('other')),
      exit_code: code,
      commit_before: commit,
      commit_after: commit,
      duration_ms: count,
      interval_seconds: edgy(fc.integer({ min: 0, max: 366 * 86400 }), fc.integer({ min: -1, max: 366 * 86400 + 1 })),
      error: text(0, 50),
    },
    { requiredKeys: ['result', 'exit_code', 'duration_ms'] },
  ),
};
const event = fc.constantFrom(...(Object.keys(dataOf) as Array<keyof typeof dataOf>)).chain((kind) =>
  fc.record({
    v: edgy(fc.constant(1), fc.constantFrom(2, '1')),
    event_id: edgy(fc.uuid({ version: [4, 7] }), fc.oneof(fc.uuid(), text(36, 36))),
    run_id: fc.uuid({ version: 4 }),
    seq: edgy(fc.nat({ max: 2 ** 31 - 1 }), fc.oneof(fc.constantFrom(-1, 2 ** 31), fc.double())),
    time,
    kind: fc.constant(kind),
    host,
    data: dataOf[kind],
  }),
);

type Json = unknown;
/** Every place in a value, as the key path to it. */
function places(value: Json, path: PropertyKey[] = []): PropertyKey[][] {
  if (value === null || typeof value !== 'object') return [path];
  const keys = Array.isArray(value) ? value.map((_, i) => i) : Object.keys(value);
  return [path, ...keys.flatMap((k) => places((value as Record<PropertyKey, Json>)[k], [...path, k]))];
}

/** The value with one place replaced, removed, or given a key no schema names. */
function broken(value: Json, pick: number, how: 'replace' | 'delete' | 'add', other: Json): Json {
  const copy = JSON.parse(JSON.stringify(value)) as Json;
  const all = places(copy);
  const path = all[pick % all.length]!;
  if (path.length === 0) return how === 'replace' ? other : copy;
  let parent = copy as Record<PropertyKey, Json>;
  for (const k of path.slice(0, -1)) parent = parent[k] as Record<PropertyKey, Json>;
  const last = path[path.length - 1]!;
  if (how === 'replace') parent[last] = other;
  else if (how === 'delete') delete parent[last];
  else if (parent[last] !== null && typeof parent[last] === 'object' && !Array.isArray(parent[last])) {
    (parent[last] as Record<string, Json>).unexpected = other;
  }
  return copy;
}

const damaged = <T>(valid: fc.Arbitrary<T>) =>
  fc.oneof(
    valid,
    fc
      .tuple(valid, fc.nat(), fc.constantFrom('replace' as const, 'delete' as const, 'add' as const), fc.jsonValue({ maxDepth: 2 }))
      .map(([v, pick, how, other]) => broken(v, pick, how, other)),
  );

/** The check and zod each see their own copy, parsed from the same text, as the route's bodies are. */
function agrees(body: Json, batch: boolean): { passed: boolean; zodAccepts: boolean } {
  const textBody = JSON.stringify(body);
  const mine = JSON.parse(textBody) as object;
  const zod = (batch ? batchSchema : eventSchema).safeParse(JSON.parse(textBody));
  const passed = mine !== null && typeof mine === 'object' && passesCompiledCheck(mine, batch);
  if (passed) {
    expect(zod.success, `passed what zod refuses: ${textBody}`).toBe(true);
    expect(mine).toEqual(zod.data);
  }
  return { passed, zodAccepts: zod.success };
}

describe('the compiled check', () => {
  it('passes only events zod accepts, as zod returns them', () => {
    let passed = 0;
    let accepted = 0;
    fc.assert(
      fc.property(damaged(event), (body) => {
        const r = agrees(body, false);
        passed += Number(r.passed);
        accepted += Number(r.zodAccepts);
      }),
      { numRuns: 4000 },
    );
    // The generator reaches both sides, and the check takes the events zod takes (all of them, in
    // every run so far; the fast path is only worth having if it is the usual one).
    expect(accepted).toBeGreaterThan(1000);
    expect(passed).toBeGreaterThanOrEqual(accepted * 0.98);
  });

  it('passes only batches zod accepts, as zod returns them', () => {
    fc.assert(
      fc.property(damaged(fc.record({ events: fc.array(event, { minLength: 0, maxLength: 4 }) })), (body) => void agrees(body, true)),
      { numRuns: 1500 },
    );
  });

  it('takes every delivery docs/ shows as accepted, and none it shows as refused', () => {
    const docs = join(import.meta.dirname, '..', '..', 'docs');
    let accepted = 0;
    for (const file of readdirSync(docs).filter((f) => f.endsWith('.md'))) {
      const text = readFileSync(join(docs, file), 'utf8');
      // Blocks posted to /webhook: no other target named on the fence line.
      for (const m of text.matchAll(/^```json( rejected)?\n([\s\S]*?)^```$/gm)) {
        const body = JSON.parse(m[2]!) as unknown;
        if (body === null || typeof body !== 'object' || Array.isArray(body)) continue;
        const passed = passesCompiledCheck(body, 'events' in body);
        expect(passed, `${file}: ${m[2]!.slice(0, 80)}`).toBe(m[1] === undefined);
        accepted += Number(passed);
      }
    }
    expect(accepted).toBeGreaterThan(5);
  });

  const eventOf = (kind: string, data: object, host: object = { hostname: 'web-01' }) => ({
    v: 1,
    event_id: '0195a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b',
    run_id: '0195a1b2-c3d4-7e5f-8a6b-000000000001',
    seq: 3,
    time: '2026-11-26T08:00:03.250Z',
    kind,
    host,
    data,
  });

  it('takes what the callback plugin sends, filling in the defaults zod would', () => {
    const task = eventOf(
      'task_result',
      { play: 'Configure', task: 'Install packages', action: 'ansible.builtin.apt', status: 'ok', duration_ms: 12 },
      { hostname: 'web-01', machine_id: 'a'.repeat(32), vmid: 101, ips: ['10.0.0.5', 'fe80::1'] },
    );
    const body = { events: [task, { ...task, seq: 4, event_id: '0195a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2c' }] };
    expect(passesCompiledCheck(body, true)).toBe(true);
    expect(body.events[0]!.data).toMatchObject({ no_log: false });
  });

  it('leaves to zod what only zod can tell: a time past 2100, a reserved stats name, an address the URL parser refuses', () => {
    const base = eventOf('run_finished', { result: 'success', duration_ms: 5, stats: {} });
    const cases = [
      { ...base, time: '2100-01-01T00:00:00Z' },
      JSON.parse(
        JSON.stringify(base).replace(
          '"stats":{}',
          '"stats":{"__proto__":{"ok":1,"changed":0,"failed":0,"skipped":0,"unreachable":0,"rescued":0,"ignored":0}}',
        ),
      ),
      { ...base, host: { hostname: 'web-01', ips: ['1:2:3:4:5:6:7:8:9'] } },
    ];
    for (const body of cases) {
      expect(passesCompiledCheck(body, false), JSON.stringify(body)).toBe(false);
      expect(eventSchema.safeParse(body).success).toBe(false);
    }
    expect(passesCompiledCheck(base, false)).toBe(true);
  });
});
