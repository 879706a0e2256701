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
  INVALID_FLEET: 400,
  UNAUTHORIZED: 401,
  BAD_SIGNATURE: 401,
  /** PUT /fleet needs WEBHOOK_ADMIN_TOKEN configured on the receiver. */
  ADMIN_DISABLED: 403,
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

/** SQLite result codes and file-system errors (the durable-mode WAL sync) that mean "cannot write now, try later", not "bad request" or "bug". */
const transientCodes = /^(SQLITE_(BUSY|LOCKED|FULL|IOERR|READONLY|CANTOPEN|PROTOCOL)|EIO$|ENOSPC$|EDQUOT$|EROFS$)/;

/** Maps a storage failure to a domain error: transient ones become 503 with Retry-After. */
export function storageError(err: unknown): AppError | undefined {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && transientCodes.test(code)) {
    return new AppError('STORAGE_UNAVAILABLE', `the database cannot take writes right now (${code})`, 5);
  }
  return undefined;
}
