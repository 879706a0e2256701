/**
 * Service configuration: one zod schema over the environment, parsed once at start.
 * Nothing else in the service reads process.env.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'expected true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** Proxmox VE's tag syntax (pve-tag in its JSON schema). */
const proxmoxTagPattern = /^[a-z0-9_][a-z0-9_+.-]*$/i;
/** An API token as `pveum user token add` prints it: USER@REALM!TOKENID=SECRET. */
const proxmoxTokenPattern = /^(?<id>[^\s:/@!=]+@[A-Za-z][A-Za-z0-9._-]*![A-Za-z][A-Za-z0-9._-]*)=(?<secret>[\x21-\x7e]+)$/;

const secretPattern = /^whsec_[A-Za-z0-9+/]{16,}={0,2}$/;
const secretList = z
  .string()
  .transform((s) => s.split(/[\s,]+/).filter((x) => x.length > 0))
  .pipe(z.array(z.string().regex(secretPattern, 'expected whsec_<base64> secrets')));

/** Trust-proxy accepts false/true, a hop count or a comma-separated list of addresses/CIDRs. */
const trustProxy = z.string().transform((v, ctx): boolean | number | string[] => {
  if (v === 'false' || v === '0' || v === '') return false;
  if (v === 'true') return true;
  if (/^\d+$/.test(v)) return Number(v);
  const list = v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (list.every((s) => /^[0-9a-fA-F:.]+(\/\d{1,3})?$/.test(s))) return list;
  ctx.addIssue({ code: 'custom', message: 'expected false, true, a hop count or a list of addresses/CIDRs' });
  return z.NEVER;
});

export const envSchema = z.object({
  WEBHOOK_HOST: z.string().min(1).default('0.0.0.0'),
  WEBHOOK_PORT: int(0, 65535).default(9191),
  WEBHOOK_DB: z.string().min(1).default('./data/webhook.db'),
  WEBHOOK_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  WEBHOOK_STALE_AFTER_SECONDS: int(10, 7 * 86400).default(1800),
  WEBHOOK_RETENTION_DAYS: int(1, 3650).default(90),
  WEBHOOK_RETENTION_UNCHANGED_DAYS: int(1, 3650).default(7),
  WEBHOOK_TRUST_PROXY: trustProxy.default(false),
  WEBHOOK_DURABILITY: z.enum(['normal', 'full']).default('normal'),
  WEBHOOK_BODY_LIMIT: int(1024, 64 * 1024 * 1024).default(1024 * 1024),
  WEBHOOK_MAX_WAIT_SECONDS: int(1, 3600).default(300),
  WEBHOOK_SECRETS: secretList.optional(),
  WEBHOOK_SECRETS_FILE: z.string().min(1).optional(),
  WEBHOOK_READ_TOKEN: z.string().min(16, 'a read token needs at least 16 characters').optional(),
  WEBHOOK_READ_TOKEN_FILE: z.string().min(1).optional(),
  WEBHOOK_ADMIN_TOKEN: z.string().min(16, 'an admin token needs at least 16 characters').optional(),
  WEBHOOK_ADMIN_TOKEN_FILE: z.string().min(1).optional(),
  WEBHOOK_VM_KEY_MASTER: z.string().min(32, 'a VM key master needs at least 32 characters').optional(),
  WEBHOOK_VM_KEY_MASTER_FILE: z.string().min(1).optional(),
  WEBHOOK_REQUIRE_VM_KEYS: bool.default(false),
  WEBHOOK_EXPECT_GRACE_SECONDS: int(0, 7 * 86400).default(900),
  WEBHOOK_OUT_OF_SYNC_GRACE_SECONDS: int(0, 7 * 86400).default(1800),
  WEBHOOK_RATE_LIMIT: int(0, 1_000_000).default(600),
  WEBHOOK_MAX_IN_FLIGHT: int(0, 1_000_000).default(64),
  WEBHOOK_ACCEPTORS: int(1, 256).default(32),
  WEBHOOK_PACING_RATE: int(0, 1_000_000).default(1000),
  WEBHOOK_PACING_MAX_SECONDS: int(2, 3600).default(60),
  WEBHOOK_KEEP_ALIVE_SECONDS: int(1, 600).default(72),
  WEBHOOK_PRUNE_INTERVAL_SECONDS: int(10, 86400).default(3600),
  WEBHOOK_PROXMOX_URL: z.url({ protocol: /^https$/, message: 'expected an https:// URL such as https://127.0.0.1:8006' }).optional(),
  WEBHOOK_PROXMOX_TOKEN_FILE: z.string().min(1).optional(),
  WEBHOOK_PROXMOX_CA_FILE: z.string().min(1).optional(),
  WEBHOOK_PROXMOX_TAG: z.string().regex(proxmoxTagPattern, 'expected a Proxmox tag (letters, digits, _ - + .)').optional(),
  WEBHOOK_PROXMOX_INTERVAL_SECONDS: int(5, 86400).default(60),
});

export type Env = z.infer<typeof envSchema>;

export interface Config {
  host: string;
  port: number;
  dbPath: string;
  logLevel: Env['WEBHOOK_LOG_LEVEL'];
  staleAfterMs: number;
  retentionDays: number;
  /** Successful runs that changed nothing are kept this long (at most retentionDays). */
  retentionUnchangedDays: number;
  trustProxy: boolean | number | string[];
  durability: Env['WEBHOOK_DURABILITY'];
  bodyLimit: number;
  maxWaitSeconds: number;
  /** Standard Webhooks secrets; an empty list accepts unsigned deliveries. */
  secrets: string[];
  readToken: string | undefined;
  /** Master secrets per-VM keys derive from (src/auth/vm-keys.ts); the first is current. */
  vmKeyMasters: string[];
  /** Refuse the shared secret and unsigned cloud-init reports: every VM speaks with its own key. */
  requireVmKeys: boolean;
  /** Bearer token for PUT /fleet; undefined leaves the fleet read-only over HTTP. */
  adminToken: string | undefined;
  /** How long an expected VM may stay silent before it is `missing`. */
  expectGraceMs: number;
  /** How far past its declared interval a host may go without a check-in before it is `out-of-sync`. */
  outOfSyncGraceMs: number;
  /** Ingest requests per source address per minute; 0 turns the limit off. */
  rateLimitPerMinute: number;
  /** Deliveries being handled at once past which new ones get 503 + Retry-After; 0 turns it off. */
  maxInFlight: number;
  /** Descriptors the listening socket is accepted on, one connection each per loop turn (src/net/acceptors.ts). */
  acceptors: number;
  /** Deliveries a second the fleet is paced to (src/ingest/pacing.ts); 0 turns pacing off. */
  pacingRate: number;
  /** Longest linger the receiver asks of a sender, in ms. */
  pacingMaxMs: number;
  /** How long an idle kept-alive connection stays open, in ms. */
  keepAliveMs: number;
  pruneIntervalMs: number;
  /** Discovery of the expected VMs from the Proxmox API; undefined when WEBHOOK_PROXMOX_URL is unset. */
  proxmox: ProxmoxConfig | undefined;
}

export interface ProxmoxConfig {
  /** Base URL of the API, e.g. https://127.0.0.1:8006 (the /api2/json path is added). */
  url: string;
  /** USER@REALM!TOKENID: not secret, fine in logs. */
  tokenId: string;
  /** The token's secret: only ever sent in the Authorization header. */
  tokenSecret: string;
  /** PEM CA certificate(s) to trust instead of the system's; undefined trusts the system's. */
  ca: string | undefined;
  caFile: string | undefined;
  /** Only VMs carrying this tag are expected; undefined expects every VM. */
  tag: string | undefined;
  intervalMs: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
}

type ReadFile = (path: string) => string;

/** Parses the environment into a Config, or throws a ConfigError listing every problem. */
export function loadConfig(env: NodeJS.ProcessEnv, readFile: ReadFile = (p) => readFileSync(p, 'utf8')): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  }
  const e = parsed.data;
  const problems: string[] = [];
  const secrets = [...(e.WEBHOOK_SECRETS ?? []), ...secretsFromFile(e.WEBHOOK_SECRETS_FILE, readFile, problems)];
  const readToken =
    e.WEBHOOK_READ_TOKEN ?? tokenFromFile('WEBHOOK_READ_TOKEN_FILE', 'a read token', e.WEBHOOK_READ_TOKEN_FILE, readFile, problems);
  const adminToken =
    e.WEBHOOK_ADMIN_TOKEN ?? tokenFromFile('WEBHOOK_ADMIN_TOKEN_FILE', 'an admin token', e.WEBHOOK_ADMIN_TOKEN_FILE, readFile, problems);
  const proxmox = proxmoxFromEnv(e, readFile, problems);
  const vmKeyMasters = [
    ...(e.WEBHOOK_VM_KEY_MASTER ? [e.WEBHOOK_VM_KEY_MASTER] : []),
    ...mastersFromFile(e.WEBHOOK_VM_KEY_MASTER_FILE, readFile, problems),
  ];
  if (e.WEBHOOK_REQUIRE_VM_KEYS && vmKeyMasters.length === 0) {
    problems.push('WEBHOOK_REQUIRE_VM_KEYS: needs WEBHOOK_VM_KEY_MASTER or WEBHOOK_VM_KEY_MASTER_FILE');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    host: e.WEBHOOK_HOST,
    port: e.WEBHOOK_PORT,
    dbPath: e.WEBHOOK_DB,
    logLevel: e.WEBHOOK_LOG_LEVEL,
    staleAfterMs: e.WEBHOOK_STALE_AFTER_SECONDS * 1000,
    retentionDays: e.WEBHOOK_RETENTION_DAYS,
    retentionUnchangedDays: Math.min(e.WEBHOOK_RETENTION_UNCHANGED_DAYS, e.WEBHOOK_RETENTION_DAYS),
    trustProxy: e.WEBHOOK_TRUST_PROXY,
    durability: e.WEBHOOK_DURABILITY,
    bodyLimit: e.WEBHOOK_BODY_LIMIT,
    maxWaitSeconds: e.WEBHOOK_MAX_WAIT_SECONDS,
    secrets,
    readToken,
    adminToken,
    vmKeyMasters,
    requireVmKeys: e.WEBHOOK_REQUIRE_VM_KEYS,
    expectGraceMs: e.WEBHOOK_EXPECT_GRACE_SECONDS * 1000,
    outOfSyncGraceMs: e.WEBHOOK_OUT_OF_SYNC_GRACE_SECONDS * 1000,
    rateLimitPerMinute: e.WEBHOOK_RATE_LIMIT,
    maxInFlight: e.WEBHOOK_MAX_IN_FLIGHT,
    acceptors: e.WEBHOOK_ACCEPTORS,
    pacingRate: e.WEBHOOK_PACING_RATE,
    pacingMaxMs: e.WEBHOOK_PACING_MAX_SECONDS * 1000,
    keepAliveMs: e.WEBHOOK_KEEP_ALIVE_SECONDS * 1000,
    pruneIntervalMs: e.WEBHOOK_PRUNE_INTERVAL_SECONDS * 1000,
    proxmox,
  };
}

function readOrReport(path: string, readFile: ReadFile, name: string, problems: string[]): string | undefined {
  try {
    return readFile(path);
  } catch (err) {
    problems.push(`${name}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    return undefined;
  }
}

function secretsFromFile(path: string | undefined, readFile: ReadFile, problems: string[]): string[] {
  if (path === undefined) return [];
  const text = readOrReport(path, readFile, 'WEBHOOK_SECRETS_FILE', problems);
  if (text === undefined) return [];
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !l.startsWith('#'));
  const bad = lines.filter((l) => !secretPattern.test(l)).length;
  // Say how many lines are wrong, never what they contain: they are secrets.
  if (bad > 0) problems.push(`WEBHOOK_SECRETS_FILE: ${bad} line(s) are not whsec_<base64> secrets`);
  return lines.filter((l) => secretPattern.test(l));
}

function mastersFromFile(path: string | undefined, readFile: ReadFile, problems: string[]): string[] {
  if (path === undefined) return [];
  const text = readOrReport(path, readFile, 'WEBHOOK_VM_KEY_MASTER_FILE', problems);
  if (text === undefined) return [];
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !l.startsWith('#'));
  // Say how many lines are wrong, never what they contain.
  const short = lines.filter((l) => l.length < 32).length;
  if (short > 0) problems.push(`WEBHOOK_VM_KEY_MASTER_FILE: ${short} line(s) are shorter than 32 characters`);
  if (lines.length === 0) problems.push('WEBHOOK_VM_KEY_MASTER_FILE: holds no master secret');
  return lines.filter((l) => l.length >= 32);
}

function tokenFromFile(name: string, what: string, path: string | undefined, readFile: ReadFile, problems: string[]): string | undefined {
  if (path === undefined) return undefined;
  const token = readOrReport(path, readFile, name, problems)?.trim();
  if (token !== undefined && token.length < 16) {
    problems.push(`${name}: ${what} needs at least 16 characters`);
  }
  return token;
}

function proxmoxFromEnv(e: Env, readFile: ReadFile, problems: string[]): ProxmoxConfig | undefined {
  if (e.WEBHOOK_PROXMOX_URL === undefined) {
    // Half a configuration is a mistake to report, not a reason to silently turn discovery off.
    for (const name of ['WEBHOOK_PROXMOX_TOKEN_FILE', 'WEBHOOK_PROXMOX_CA_FILE', 'WEBHOOK_PROXMOX_TAG'] as const) {
      if (e[name] !== undefined) problems.push(`${name}: set, but WEBHOOK_PROXMOX_URL is not (discovery needs the API URL)`);
    }
    return undefined;
  }
  const token = proxmoxToken(e.WEBHOOK_PROXMOX_TOKEN_FILE, readFile, problems);
  const ca = proxmoxCa(e.WEBHOOK_PROXMOX_CA_FILE, readFile, problems);
  if (token === undefined) return undefined;
  return {
    url: e.WEBHOOK_PROXMOX_URL,
    tokenId: token.id,
    tokenSecret: token.secret,
    ca,
    caFile: e.WEBHOOK_PROXMOX_CA_FILE,
    tag: e.WEBHOOK_PROXMOX_TAG,
    intervalMs: e.WEBHOOK_PROXMOX_INTERVAL_SECONDS * 1000,
  };
}

function proxmoxToken(path: string | undefined, readFile: ReadFile, problems: string[]): { id: string; secret: string } | undefined {
  if (path === undefined) {
    problems.push('WEBHOOK_PROXMOX_TOKEN_FILE: required when WEBHOOK_PROXMOX_URL is set (a file holding USER@REALM!TOKENID=SECRET)');
    return undefined;
  }
  const text = readOrReport(path, readFile, 'WEBHOOK_PROXMOX_TOKEN_FILE', problems);
  if (text === undefined) return undefined;
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !l.startsWith('#'));
  const m = lines.length === 1 ? proxmoxTokenPattern.exec(lines[0]!) : null;
  // Never echo the file: its one line is a secret.
  if (!m?.groups) {
    const found = lines.length === 1 ? 'its line is not in that shape' : `it has ${lines.length} lines`;
    problems.push(`WEBHOOK_PROXMOX_TOKEN_FILE: ${path} must hold one line USER@REALM!TOKENID=SECRET; ${found}`);
    return undefined;
  }
  return { id: m.groups.id!, secret: m.groups.secret! };
}

function proxmoxCa(path: string | undefined, readFile: ReadFile, problems: string[]): string | undefined {
  if (path === undefined) return undefined;
  const text = readOrReport(path, readFile, 'WEBHOOK_PROXMOX_CA_FILE', problems);
  if (text !== undefined && !text.includes('-----BEGIN CERTIFICATE-----')) {
    problems.push(`WEBHOOK_PROXMOX_CA_FILE: ${path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  }
  return text;
}

/** A config for tests and tools: defaults with overrides. */
export function testConfig(overrides: Partial<Config> = {}): Config {
  return { ...loadConfig({ WEBHOOK_DB: ':memory:', WEBHOOK_LOG_LEVEL: 'silent' }), ...overrides };
}
