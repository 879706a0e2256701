/** SQLite's and the file system's errors, mapped to domain errors where the store meets them. */
import { DomainError } from '../errors.js';

/** Result codes and file-system errors (the durable-mode WAL sync) that mean "cannot write now, try later", not "bad request" or "bug". */
const transientCodes = /^(SQLITE_(BUSY|LOCKED|FULL|IOERR|READONLY|CANTOPEN|PROTOCOL)|EIO$|ENOSPC$|EDQUOT$|EROFS$)/;

/** A transient storage failure as STORAGE_UNAVAILABLE; anything else (a bug) unchanged. */
export function storageFailure(err: unknown): unknown {
  const code = (err as { code?: unknown } | null)?.code;
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

/** Whether a write failed only because another connection held the write lock (SQLITE_BUSY). */
export function isBusy(err: unknown): boolean {
  const code = (e: unknown) => (e as { code?: unknown } | null)?.code;
  return code(err) === 'SQLITE_BUSY' || code((err as { cause?: unknown } | null)?.cause) === 'SQLITE_BUSY';
}
