/**
 * The fast check of `POST /webhook` bodies: the zod schemas of events.ts, turned into JSON Schema
 * by zod itself and compiled by ajv (what Fastify validates with). On a batch of 100 events zod
 * took 3–4 µs an event, a quarter of the receiver's work, most of it building the copy it returns;
 * the compiled check takes under 0.5 µs and checks the body where it lies.
 *
 * zod stays the one definition and the judge: a body this check passes is one zod accepts, with
 * the same value (its defaults filled in place); any other body goes to zod, whose answer, a value
 * or an error naming the field, is the route's. What JSON Schema cannot say is checked after the
 * compiled pass by zod's own pieces (`unexpressed`), and test/protocol/compiled-events.test.ts
 * fails when a schema gains a refinement, transform or check that is not among them.
 */
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import { batchSchema, eventSchema, hostIdentitySchema, runFinishedSchema, timeInRange, type WebhookEvent } from './events.js';

/**
 * The parts of an event zod checks beyond its JSON Schema, by path: the time's range (a refine),
 * a run's stats (reserved names, in a preprocess) and IPv6 addresses (zod asks the URL parser, not
 * the pattern it emits).
 */
export const unexpressed = ['time', 'host.ips[]', 'data.stats'] as const;

const ipsSchema = hostIdentitySchema.shape.ips;
const statsSchema = runFinishedSchema.shape.data.shape.stats;

function passesUnexpressed(e: WebhookEvent): boolean {
  if (!timeInRange(e.time)) return false;
  if (e.host.ips !== undefined && !ipsSchema.safeParse(e.host.ips).success) return false;
  return e.kind !== 'run_finished' || statsSchema.safeParse(e.data.stats).success;
}

/** JSON Schema for one zod schema, with the event union told apart by `kind` as zod does. */
function jsonSchemaOf(schema: z.ZodType): Record<string, unknown> {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  const adapt = (node: unknown): void => {
    if (node === null || typeof node !== 'object') return;
    const n = node as Record<string, unknown>;
    // zod checks an IPv6 address with the URL parser alone, not the pattern it emits (which refuses
    // an embedded IPv4 address the parser takes): the addresses are left to zod's own check.
    if (n.format === 'ipv6') delete n.pattern;
    if (Array.isArray(n.oneOf) && n.oneOf.every((alt) => (alt as { properties?: { kind?: unknown } }).properties?.kind)) {
      // ajv's discriminator lets a value that is not an object through: the type is stated too.
      n.type = 'object';
      n.discriminator = { propertyName: 'kind' };
    }
    for (const v of Object.values(n)) adapt(v);
  };
  adapt(json);
  return json;
}

// unicode: false counts a string's length in UTF-16 units, as zod's max() does; formats are left
// to the patterns zod emits beside them, which are zod's own regular expressions. Without code
// optimisation and with references kept as calls, compiling takes about 90 ms instead of 270, and
// checks as fast.
const ajv = new Ajv2020({
  unicode: false,
  useDefaults: true,
  discriminator: true,
  validateFormats: false,
  strict: false,
  logger: false,
  inlineRefs: false,
  code: { optimize: false },
});

/** The event schema once, and the batch's as a reference to it (its items are the event schema). */
function compile(): { event: ValidateFunction; batch: ValidateFunction } {
  const { $schema: _, ...event } = jsonSchemaOf(eventSchema);
  const batch = jsonSchemaOf(batchSchema) as { properties: { events: { items: unknown } } };
  if (!isDeepStrictEqual(batch.properties.events.items, event)) throw new Error('a batch holds other events than eventSchema');
  batch.properties.events.items = { $ref: 'event' };
  const compiledEvent = ajv.compile({ ...event, $id: 'event' }); // first: the batch refers to it
  return { event: compiledEvent, batch: ajv.compile(batch) };
}

let compiled: ReturnType<typeof compile> | undefined;
/**
 * Compiles the check, once per process: the route calls it when it is registered, so the first
 * delivery does not wait for it.
 */
export function compileEventCheck(): void {
  compiled ??= compile();
}

/**
 * True when zod would accept this body as it is: an event, or `{events: [...]}` when `batch`.
 * Fills in defaults where they are missing, as zod's value would have them. False says nothing:
 * the body may still be valid, and zod decides.
 */
export function passesCompiledCheck(body: object, batch: boolean): boolean {
  compiled ??= compile();
  const v = compiled;
  if (batch) {
    if (!v.batch(body)) return false;
    return (body as { events: WebhookEvent[] }).events.every(passesUnexpressed);
  }
  return v.event(body) && passesUnexpressed(body as WebhookEvent);
}
