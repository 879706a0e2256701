/**
 * One read of the Proxmox VE API: GET /api2/json/cluster/resources?type=vm with an API token,
 * over HTTPS trusting the host's own CA. Returns the VMs that should report, or throws a
 * ProxmoxError saying which of three things went wrong.
 */
import { request } from 'node:https';
import { z } from 'zod';
import type { ProxmoxConfig } from '../config.js';

/** Longest answer read; a cluster's resource list is a few hundred bytes per guest. */
const MAX_ANSWER_BYTES = 16 * 1024 * 1024;

export const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * One entry of the documented answer. type=vm returns qemu and lxc guests; template is 0/1
 * (Proxmox serialises Perl booleans as numbers) and absent on older releases.
 */
const resourceSchema = z.object({
  vmid: z.number().int().positive(),
  name: z.string().optional(),
  node: z.string(),
  status: z.string(),
  type: z.string(),
  template: z.union([z.literal(0), z.literal(1), z.boolean()]).optional(),
  tags: z.string().optional(),
});

const answerSchema = z.object({ data: z.array(resourceSchema) });

/** A VM as discovery reports it; status is Proxmox's own (running, stopped, paused, unknown…). */
export const proxmoxVmSchema = z.object({
  vmid: z.number().int().positive(),
  name: z.string(),
  node: z.string(),
  status: z.string(),
  tags: z.array(z.string()),
});
export type ProxmoxVm = z.infer<typeof proxmoxVmSchema>;

export type ProxmoxFailure = 'unreachable' | 'refused' | 'bad_answer';

/** A failed read, classified; `message` says what failed and what to check, never the secret. */
export class ProxmoxError extends Error {
  constructor(
    readonly kind: ProxmoxFailure,
    message: string,
    /** Node's error code or the HTTP status, for the log line. */
    readonly detail?: string,
  ) {
    super(message);
  }
}

export type ClientConfig = Pick<ProxmoxConfig, 'url' | 'tokenId' | 'tokenSecret' | 'ca' | 'tag'>;

export interface ReadResult {
  /** The VMs expected to report (qemu, not templates, carrying the tag when one is set). */
  vms: ProxmoxVm[];
  /** Guests of any kind in the answer before filtering: 0 usually means the token sees nothing. */
  total: number;
}

/** Tags as Proxmox stores them: `;`-separated, though `,` and spaces are accepted on input. */
export function splitTags(tags: string | undefined): string[] {
  return (tags ?? '').split(/[;,\s]+/).filter((t) => t.length > 0);
}

/**
 * Only QEMU guests are expected: the fleet boots with cloud-init and runs ansible-pull, which
 * Proxmox containers (lxc, also returned by type=vm) do not. Templates never run. Tags compare
 * case-insensitively, as Proxmox does by default.
 */
export function expectedVms(entries: z.infer<typeof resourceSchema>[], tag: string | undefined): ProxmoxVm[] {
  const wanted = tag?.toLowerCase();
  return entries
    .filter((e) => e.type === 'qemu' && !e.template)
    .map((e) => ({ vmid: e.vmid, name: e.name ?? String(e.vmid), node: e.node, status: e.status, tags: splitTags(e.tags) }))
    .filter((vm) => wanted === undefined || vm.tags.some((t) => t.toLowerCase() === wanted))
    .sort((a, b) => a.vmid - b.vmid);
}

/** The cluster resources endpoint under the configured base URL. */
export function resourcesUrl(base: string): URL {
  // Keep any path prefix of the base (a reverse proxy in front of pveproxy).
  return new URL('api2/json/cluster/resources?type=vm', base.endsWith('/') ? base : `${base}/`);
}

const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ALTNAME|TLS|SSL/;

function timeoutError(url: URL, timeoutMs: number): ProxmoxError {
  return new ProxmoxError(
    'unreachable',
    `no answer from ${url.origin} within ${timeoutMs / 1000} s: check WEBHOOK_PROXMOX_URL and that pveproxy is running`,
    'timeout',
  );
}

function networkError(url: URL, err: NodeJS.ErrnoException): ProxmoxError {
  const code = err.code ?? err.name;
  if (TLS_CODES.test(code)) {
    return new ProxmoxError(
      'unreachable',
      `the TLS certificate of ${url.origin} is not trusted (${code}): check WEBHOOK_PROXMOX_CA_FILE (the host's /etc/pve/pve-root-ca.pem) and that the URL's host name is in the certificate`,
      code,
    );
  }
  return new ProxmoxError(
    'unreachable',
    `cannot reach ${url.origin} (${code}): check WEBHOOK_PROXMOX_URL and that pveproxy is running`,
    code,
  );
}

function httpError(tokenId: string, status: number): ProxmoxError {
  if (status === 401) {
    return new ProxmoxError(
      'refused',
      `the API refused token ${tokenId} (HTTP 401): check that the token exists, has not expired, and that WEBHOOK_PROXMOX_TOKEN_FILE holds its secret`,
      '401',
    );
  }
  if (status === 403) {
    return new ProxmoxError(
      'refused',
      `token ${tokenId} may not list the cluster's resources (HTTP 403): give it PVEAuditor on /vms`,
      '403',
    );
  }
  return new ProxmoxError('bad_answer', `the API answered HTTP ${status} instead of the VM list`, String(status));
}

function parseAnswer(body: string, tag: string | undefined): ReadResult {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new ProxmoxError(
      'bad_answer',
      'the API answer is not JSON: check that WEBHOOK_PROXMOX_URL points at pveproxy (port 8006)',
      'json',
    );
  }
  const parsed = answerSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ProxmoxError(
      'bad_answer',
      `the API answer is not a VM list (${issue.path.join('.') || 'answer'}: ${issue.message})`,
      'schema',
    );
  }
  return { vms: expectedVms(parsed.data.data, tag), total: parsed.data.data.length };
}

export interface ReadOptions {
  /** Aborts the request (stop()); the promise then rejects with an AbortError. */
  signal?: AbortSignal;
  /** Whole-request deadline: connect, TLS, answer. */
  timeoutMs?: number;
}

/** Reads the expected VMs once. */
export function readProxmoxVms(config: ClientConfig, { signal, timeoutMs = DEFAULT_TIMEOUT_MS }: ReadOptions = {}): Promise<ReadResult> {
  const url = resourcesUrl(config.url);
  return new Promise<ReadResult>((resolve, reject) => {
    let settled = false;
    const settle = (outcome: () => ReadResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      try {
        resolve(outcome());
      } catch (err) {
        reject(err as Error);
      }
      // Whatever is left of the exchange (an unread body, a hung answer) is no longer wanted.
      req.destroy();
    };
    const failWith = (err: Error) =>
      settle(() => {
        throw err;
      });

    const req = request(url, {
      method: 'GET',
      // Without a CA file, Node's own trust store (a host with a public certificate, e.g. ACME).
      ...(config.ca !== undefined ? { ca: config.ca } : {}),
      headers: { accept: 'application/json', authorization: `PVEAPIToken=${config.tokenId}=${config.tokenSecret}` },
      // A fresh connection per poll: nothing pooled keeps the process alive after stop().
      agent: false,
      signal,
    });
    const deadline = setTimeout(() => failWith(timeoutError(url, timeoutMs)), timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => failWith(err.name === 'AbortError' ? err : networkError(url, err)));
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      if (status < 200 || status >= 300) {
        failWith(httpError(config.tokenId, status));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_ANSWER_BYTES)
          failWith(new ProxmoxError('bad_answer', `the API answer exceeds ${MAX_ANSWER_BYTES} bytes`, 'too_large'));
        else chunks.push(chunk);
      });
      res.on('error', (err: NodeJS.ErrnoException) => failWith(networkError(url, err)));
      res.on('end', () => settle(() => parseAnswer(Buffer.concat(chunks).toString('utf8'), config.tag)));
    });
    req.end();
  });
}
