/** The readiness probe's question to the database: can it take a write right now? */
import type { Db } from '../db/database.js';

export function createHealthStore(db: Db) {
  // A write that changes nothing still needs the write lock and a writable file.
  const probe = db.prepare('UPDATE hosts SET id = id WHERE 0');
  const write = db.transaction(() => probe.run());
  return {
    /** undefined when a write goes through now; otherwise the SQLite code (or `error`) that stopped it. */
    writeBlockedBy(): string | undefined {
      try {
        write.immediate();
        return undefined;
      } catch (err) {
        return (err as { code?: string }).code ?? 'error';
      }
    },
  };
}

export type HealthStore = ReturnType<typeof createHealthStore>;
