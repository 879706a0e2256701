/**
 * Durable mode (WEBHOOK_DURABILITY=full): after a group of deliveries commits, their WAL frames are
 * fdatasync'ed in libuv's thread pool and only then answered. The event loop keeps parsing and
 * committing the next group meanwhile, so one fsync covers everything committed while the last one
 * ran. This gives SQLite FULL's promise (an answered event survives power loss) without its cost of
 * an fsync on the event loop inside every commit.
 */
import { open, type FileHandle } from 'node:fs/promises';

export interface WalSync {
  /** Resolves once everything committed before the call is on stable storage. */
  sync: () => Promise<void>;
  close: () => Promise<void>;
}

export function createWalSync(dbPath: string): WalSync {
  let handle: Promise<FileHandle> | undefined;
  // The WAL exists once the database is open in WAL mode and migrated; open it on first use.
  const wal = () => (handle ??= open(`${dbPath}-wal`, 'r'));
  return {
    sync: async () => (await wal()).datasync(),
    close: async () => {
      if (handle) await (await handle).close();
      handle = undefined;
    },
  };
}
