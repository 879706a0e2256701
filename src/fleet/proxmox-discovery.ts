/**
 * Proxmox discovery: polls the API on an interval and hands the complete list of expected VMs
 * to onInventory after each successful read. A failed read logs one line saying what to check
 * and retries with exponential backoff, capped at the interval; the receiver keeps serving.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ProxmoxConfig } from '../config.js';
import type { Logger } from '../logger.js';
import { DEFAULT_TIMEOUT_MS, ProxmoxError, readProxmoxVms, type ProxmoxFailure, type ProxmoxVm } from './proxmox-client.js';

export const pollOutcomes = ['ok', 'unreachable', 'refused', 'bad_answer'] as const;
export type PollOutcome = (typeof pollOutcomes)[number];

export interface ProxmoxDiscoveryOptions {
  config: ProxmoxConfig;
  logger: Logger;
  /** The app's registry; discovery registers its three metrics in it. */
  registry: Registry;
  clock?: () => number;
  /** The complete current list after each successful poll: a VM missing from it is gone. */
  onInventory: (vms: ProxmoxVm[]) => void;
  /** First retry delay after a failure, doubled each time up to the interval. */
  retryBaseMs?: number;
  timeoutMs?: number;
}

export interface ProxmoxDiscovery {
  /** Polls at once, then every interval. */
  start(): void;
  /** Cancels the timer and any request in flight; resolves when nothing is left running. */
  stop(): Promise<void>;
}

const DEFAULT_RETRY_BASE_MS = 1000;

/** Delay before retry n (1-based) after consecutive failures. */
export function retryDelayMs(failures: number, baseMs: number, capMs: number): number {
  return Math.min(capMs, baseMs * 2 ** Math.min(failures - 1, 30));
}

function createDiscoveryMetrics(registry: Registry) {
  const polls = new Counter({
    name: 'webhook_proxmox_polls_total',
    help: 'Reads of the Proxmox API, by outcome (ok, unreachable, refused, bad_answer).',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  // Every outcome is exported from the start, so rate() and alerts see a 0, not a missing series.
  for (const outcome of pollOutcomes) polls.inc({ outcome }, 0);
  const lastSuccess = new Gauge({
    name: 'webhook_proxmox_last_success_timestamp_seconds',
    help: 'Unix time of the last successful read of the Proxmox API (0: none yet).',
    registers: [registry],
  });
  const discovered = new Gauge({
    name: 'webhook_proxmox_discovered_vms',
    help: 'VMs the last successful Proxmox read expects to report (qemu, not templates, with the tag).',
    registers: [registry],
  });
  return { polls, lastSuccess, discovered };
}

/** The poller; nothing runs until start(). */
export function createProxmoxDiscovery(options: ProxmoxDiscoveryOptions): ProxmoxDiscovery {
  const { config, onInventory, clock = Date.now } = options;
  const retryBaseMs = options.retryBaseMs ?? DEFAULT_RETRY_BASE_MS;
  const timeoutMs = Math.min(options.timeoutMs ?? DEFAULT_TIMEOUT_MS, config.intervalMs);
  const logger = options.logger.child({ component: 'proxmox-discovery', proxmox: config.url, tokenId: config.tokenId });
  const metrics = createDiscoveryMetrics(options.registry);

  let timer: NodeJS.Timeout | undefined;
  let inFlight: { abort: AbortController; done: Promise<void> } | undefined;
  let running = false;
  let failures = 0;
  let sawEmpty = false;

  function schedule(delayMs: number): void {
    if (!running) return;
    timer = setTimeout(() => {
      timer = undefined;
      const abort = new AbortController();
      const done = poll(abort.signal).finally(() => {
        inFlight = undefined;
      });
      inFlight = { abort, done };
    }, delayMs);
    timer.unref();
  }

  async function poll(signal: AbortSignal): Promise<void> {
    let result: Awaited<ReturnType<typeof readProxmoxVms>>;
    try {
      result = await readProxmoxVms(config, { signal, timeoutMs });
    } catch (err) {
      if (!running) return; // stopped mid-request: not a failure of Proxmox
      onFailure(err);
      return;
    }
    if (!running) return;
    onSuccess(result.vms, result.total);
  }

  function onSuccess(vms: ProxmoxVm[], total: number): void {
    metrics.polls.inc({ outcome: 'ok' });
    metrics.lastSuccess.set(clock() / 1000);
    metrics.discovered.set(vms.length);
    if (failures > 0) logger.info({ vms: vms.length, afterFailures: failures }, 'Proxmox discovery recovered');
    failures = 0;
    warnIfEmpty(total);
    try {
      onInventory(vms);
    } catch (err) {
      logger.error({ err }, 'Proxmox discovery: applying the VM list failed; it is read again at the next interval');
    }
    schedule(config.intervalMs);
  }

  /** A privilege-separated token without an ACL sees an empty list, not an error: say so once. */
  function warnIfEmpty(total: number): void {
    if (total === 0 && !sawEmpty) {
      logger.warn('Proxmox discovery: the API lists no VMs at all; if there are some, give the token PVEAuditor on /vms (a privilege-separated token sees only what its own ACL allows)');
    }
    sawEmpty = total === 0;
  }

  function onFailure(err: unknown): void {
    const failure: ProxmoxError = err instanceof ProxmoxError ? err : new ProxmoxError('bad_answer', `unexpected error: ${String(err)}`);
    metrics.polls.inc({ outcome: failure.kind satisfies ProxmoxFailure });
    failures += 1;
    const delayMs = retryDelayMs(failures, retryBaseMs, config.intervalMs);
    // A refused token or a wrong answer needs someone to act; an unreachable API may come back on its own.
    const level = failure.kind === 'unreachable' ? 'warn' : 'error';
    logger[level](
      { outcome: failure.kind, detail: failure.detail, failures, retryInSeconds: delayMs / 1000 },
      `Proxmox discovery failed: ${failure.message}; retrying in ${delayMs / 1000} s`,
    );
    schedule(delayMs);
  }

  return {
    start(): void {
      if (running) return;
      running = true;
      schedule(0);
    },
    async stop(): Promise<void> {
      running = false;
      if (timer) clearTimeout(timer);
      timer = undefined;
      const current = inFlight;
      current?.abort.abort();
      await current?.done;
    },
  };
}
