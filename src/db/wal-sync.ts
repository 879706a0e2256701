/**
 * Durable mode (WEBHOOK_DURABILITY=full): after a group of deliveries commits, their WAL frames are
 * fdatasync'ed in libuv's thread pool and only then answered. The event loop keeps parsing and
 * committing the next group meanwhile, so one fsync covers everything committed while the last one
 * ran. This gives SQLite FULL's promise (an answered event survives power loss) without its cost of
 * an fsync on the event loop inside every commit.
 *
 * The checkpointer thread (src/db/checkpointer.ts) truncating or restarting the WAL from its own
 * connection cannot undo this:
 * - The descriptor stays on the one WAL file: SQLite truncates or overwrites it in place and only
 *   deletes it when the last connection closes, and the service's connection outlives this
 *   descriptor (closed in the app's onClose, before the database). fdatasync flushes the file,
 *   not this descriptor's writes, so it covers the frames the service's connection wrote.
 * - Frames are gone from the WAL only once they are safe elsewhere: a checkpoint fsyncs the WAL
 *   before copying and the database file after, and RESTART and TRUNCATE reset the log only
 *   after that, with every frame copied. So a group whose frames a TRUNCATE removed before its
 *   sync ran is already on stable storage in the database file, and a sync that finds an empty
 *   or restarted WAL has nothing of it left to flush. This holds because the thread's connection
 *   does sync (synchronous is NORMAL there, never OFF).
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
