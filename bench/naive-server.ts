/**
 * The durable-mode baseline, the naive design: the receiver with group commit off and SQLite's
 * synchronous=FULL, so every delivery is its own transaction and its own fsync.
 */
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/db/database.js';
import { migrate } from '../src/db/migrate.js';

const config = loadConfig(process.env);
// SQLite's own FULL: an fsync inside every commit, on the event loop.
const db = openDatabase(config.dbPath, config.durability);
migrate(db);
const app = await buildApp({ ...config, durability: 'normal' }, { db, groupCommit: false });
const address = await app.listen({ host: config.host, port: config.port });
process.stdout.write(`${JSON.stringify({ msg: 'webhook receiver ready', address })}\n`);
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
