/**
 * The one error catalog: every error the service answers with has a stable code and status here.
 * Each names its HTTP status and, for refused deliveries, its metric reason. Handlers throw
 * AppError; the error handler turns it into {statusCode, code, error, message}.
 */
import { STATUS_CODES } from 'node:http';
import type { z } from 'zod';
import type { errorBodySchema } from './protocol/api.js';

/** What a refused POST /webhook counts as in webhook_deliveries_rejected_total{reason}. */
const rejectReasons = [
  'invalid_json',
  'invalid_event',
  'too_large',
  'unsupported_media_type',
  'unauthorized',
  'rate_limited',
  'storage_unavailable',
  'identity_conflict',
  'run_owned_by_other_host',
  'overloaded',
  'client_gone',
] as const;
export type RejectReason = (typeof rejectReasons)[number];

interface CatalogEntry {
  status: number;
  /** The metric reason when this error refuses a delivery; none for errors a delivery never gets. */
  reason?: RejectReason;
}

export const errorCatalog = {
  INVALID_JSON: { status: 400, reason: 'invalid_json' },
  INVALID_EVENT: { status: 400, reason: 'invalid_event' },
  INVALID_QUERY: { status: 400 },
  INVALID_PARAMS: { status: 400 },
  INVALID_REPORT: { status: 400 },
  INVALID_FLEET: { status: 400 },
  UNAUTHORIZED: { status: 401 },
  BAD_SIGNATURE: { status: 401, reason: 'unauthorized' },
  /** Signed with the shared secret (or not at all) where the VM's own key is required. */
  VM_KEY_REQUIRED: { status: 401, reason: 'unauthorized' },
  /** The signature's timestamp is outside ±5 minutes: often a VM clock not yet synced at first boot. */
  TIMESTAMP_OUT_OF_WINDOW: { status: 401, reason: 'unauthorized' },
  /** PUT /fleet needs WEBHOOK_ADMIN_TOKEN configured on the receiver. */
  ADMIN_DISABLED: { status: 403 },
  NOT_FOUND: { status: 404 },
  /** A delivery's identities point at two different hosts, or at a host another VM's key holds. */
  IDENTITY_CONFLICT: { status: 409, reason: 'identity_conflict' },
  /** Events for a run that another host started. */
  RUN_OWNED_BY_OTHER_HOST: { status: 409, reason: 'run_owned_by_other_host' },
  /** A lookup by an IP address that several current hosts list. */
  AMBIGUOUS_IDENTITY: { status: 409 },
  BODY_TOO_LARGE: { status: 413, reason: 'too_large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, reason: 'unsupported_media_type' },
  RATE_LIMITED: { status: 429, reason: 'rate_limited' },
  INTERNAL: { status: 500 },
  STORAGE_UNAVAILABLE: { status: 503, reason: 'storage_unavailable' },
  SHUTTING_DOWN: { status: 503, reason: 'storage_unavailable' },
  /** More deliveries are being handled than WEBHOOK_MAX_IN_FLIGHT: refused before any work. */
  OVERLOADED: { status: 503, reason: 'overloaded' },
  /**
   * The sender closed its connection before its delivery was written: nothing is stored and no
   * answer is sent (499 as nginx counts it); the sender retries the same events.
   */
  CLIENT_GONE: { status: 499, reason: 'client_gone' },
} as const satisfies Record<string, CatalogEntry>;

export type ErrorCode = keyof typeof errorCatalog;

export class AppError extends Error {
  readonly statusCode: number;
  /** The rejected-deliveries metric's reason, from the catalog. */
  readonly reason: RejectReason | undefined;
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Seconds a client should wait before retrying (429, 503). */
    readonly retryAfter?: number,
  ) {
    super(message);
    const entry: CatalogEntry = errorCatalog[code];
    this.statusCode = entry.status;
    this.reason = entry.reason;
  }
}

export type ErrorBody = z.infer<typeof errorBodySchema>;

export function errorBody(err: AppError): ErrorBody {
  return { statusCode: err.statusCode, code: err.code, error: STATUS_CODES[err.statusCode] ?? 'Error', message: err.message };
}

/**
 * Errors the store raises without knowing about HTTP, each with the catalog code it answers as.
 * The store maps SQLite's own errors to these (src/store/storage-errors.ts); the error handler
 * turns them into an AppError with fromDomain.
 */
export const domainErrors = {
  /** A runs cursor that this API did not hand out. */
  BAD_CURSOR: 'INVALID_QUERY',
  /** The database cannot take writes right now (locked, disk full, I/O error): retry later. */
  STORAGE_UNAVAILABLE: 'STORAGE_UNAVAILABLE',
  IDENTITY_CONFLICT: 'IDENTITY_CONFLICT',
  RUN_OWNED_BY_OTHER_HOST: 'RUN_OWNED_BY_OTHER_HOST',
  VM_KEY_REQUIRED: 'VM_KEY_REQUIRED',
  AMBIGUOUS_IDENTITY: 'AMBIGUOUS_IDENTITY',
  /** A run named in a query (GET /runs/:id/diff?against=) that is not on record. */
  RUN_NOT_FOUND: 'NOT_FOUND',
} as const satisfies Record<string, ErrorCode>;

export class DomainError extends Error {
  constructor(
    readonly kind: keyof typeof domainErrors,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The answer for a domain error: its catalog code; a transient storage failure says when to retry. */
export function fromDomain(err: DomainError): AppError {
  return new AppError(domainErrors[err.kind], err.message, err.kind === 'STORAGE_UNAVAILABLE' ? 5 : undefined);
}
