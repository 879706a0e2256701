/** A migrated in-memory database for store tests, and a way to write events to it. */
import { openDatabase, type Db } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrate.js';
import type { WebhookEvent } from '../../src/protocol/events.js';
import { createIngestStore, type IncomingEvent } from '../../src/store/ingest-store.js';

export function memoryDb(): Db {
  const db = openDatabase(':memory:');
  migrate(db);
  return db;
}

/** Events as one write from one address, received at `at`. */
export const incoming = (events: WebhookEvent[], at = Date.now(), address = '10.0.0.1'): IncomingEvent[] =>
  events.map((event) => ({ event, address, receivedAt: at }));

export function writer(db: Db) {
  const store = createIngestStore(db);
  return { store, write: (events: WebhookEvent[], at?: number, address?: string) => store.writeEvents(incoming(events, at, address)) };
}
