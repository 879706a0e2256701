/** SQLite's and the file system's errors, mapped to domain errors where the store meets them. */
import { DomainError } from '../errors.js';

/** Result codes and file-system errors (the durable-mode WAL sync) that mean "cannot write now, try later", not "bad request" or "bug". */
const transientCodes = /^(SQLITE_(BUSY|LOCKED|FULL|IOERR|READONLY|CANTOPEN|PROTOCOL)|EIO$|ENOSPC$|EDQUOT$|EROFS$)/;

/** The result code of an SQLite or file-system error, if it has one. */
const codeOf = (err: unknown): unknown => (err as { code?: unknown } | null)?.code;

/** A transient storage failure as STORAGE_UNAVAILABLE; anything else (a bug) unchanged. */
export function storageFailure(err: unknown): unknown {
  const code = codeOf(err);
  if (typeof code === 'string' && transientCodes.test(code)) {
    return new DomainError('STORAGE_UNAVAILABLE', `the database cannot take writes right now (${code})`, { cause: err });
  }
  return err;
}

/** Runs a write, rethrowing its failure mapped by storageFailure. */
export function mapStorageErrors<T>(write: () => T): T {
  try {
    return write();
  } catch (err) {
    throw storageFailure(err);
  }
}

/** Whether a write failed only because another connection held the write lock, as is or as storageFailure mapped it. */
export function isBusy(err: unknown): boolean {
  return codeOf(err) === 'SQLITE_BUSY' || codeOf((err as { cause?: unknown } | null)?.cause) === 'SQLITE_BUSY';
}
