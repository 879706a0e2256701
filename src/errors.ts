/**
 * The one error catalog: every error the service answers with has a stable code and status here.
 * Handlers throw AppError; the error handler turns it into {statusCode, code, error, message}.
 */
import { STATUS_CODES } from 'node:http';

export const errorCodes = {
  INVALID_JSON: 400,
  INVALID_EVENT: 400,
  INVALID_QUERY: 400,
  INVALID_PARAMS: 400,
  INVALID_REPORT: 400,
  UNAUTHORIZED: 401,
  BAD_SIGNATURE: 401,
  /** The signature's timestamp is outside ±5 minutes: often a VM clock not yet synced at first boot. */
  TIMESTAMP_OUT_OF_WINDOW: 401,
  NOT_FOUND: 404,
  BODY_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  STORAGE_UNAVAILABLE: 503,
  SHUTTING_DOWN: 503,
} as const;

export type ErrorCode = keyof typeof errorCodes;

export class AppError extends Error {
  readonly statusCode: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Seconds a client should wait before retrying (429, 503). */
    readonly retryAfter?: number,
  ) {
    super(message);
    this.statusCode = errorCodes[code];
  }
}

export interface ErrorBody {
  statusCode: number;
  code: ErrorCode;
  error: string;
  message: string;
}

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
