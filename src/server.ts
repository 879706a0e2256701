/**
 * The service's entry point: config, database, migrations, app, listen, and a graceful stop on
 * SIGTERM/SIGINT. Everything else lives in buildApp so tests can run it without a socket.
 */
import { buildApp } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import { startCheckpointer } from './db/checkpointer.js';
import { openDatabase } from './db/database.js';
import { DatabaseTooNewError, migrate } from './db/migrate.js';
import { createLogger } from './logger.js';
import { addAcceptors, type Acceptors } from './net/acceptors.js';

/** The listening socket's accept queue (the kernel caps it at net.core.somaxconn, 4096 by default). */
const BACKLOG = 4096;

async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`webhook: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);
  const db = openDatabase(config.dbPath);
  try {
    const applied = migrate(db);
    if (applied.length > 0) logger.info({ applied, db: config.dbPath }, 'database migrated');
  } catch (err) {
    if (err instanceof DatabaseTooNewError) {
      logger.fatal({ db: config.dbPath }, err.message);
      db.close();
      process.exit(3);
    }
    throw err;
  }
  if (config.secrets.length === 0) {
    logger.warn('no WEBHOOK_SECRETS configured: unsigned deliveries are accepted from any address');
  }
  // WAL checkpoints run in a thread of their own rather than inside a commit on the event loop.
  const checkpointer = config.dbPath === ':memory:' ? undefined : startCheckpointer(db, config.dbPath, { logger });
  const app = await buildApp(config, { db, logger, checkpointer });

  let acceptors: Acceptors | undefined;
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping: finishing in-flight requests');
    try {
      // The copies of the listening socket first: while one is open, the socket still accepts.
      const drained = acceptors?.close(2000);
      await app.close();
      await drained;
      // After the last write and before the database closes: its last checkpoint empties the WAL.
      await checkpointer?.stop();
      db.close();
      logger.info('stopped cleanly');
      logger.flush();
      process.exit(0);
    } catch (err) {
      logger.error({ err }, 'error while stopping');
      process.exit(1);
    }
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));

  // A fleet rebuild opens connections in bursts; Node's default backlog of 511 would drop SYNs.
  const address = await app.listen({ host: config.host, port: config.port, backlog: BACKLOG });
  acceptors = await addAcceptors(app.server, config.acceptors - 1, BACKLOG, logger);
  logger.info({ address, db: config.dbPath, durability: config.durability, acceptors: acceptors.count }, 'webhook receiver ready');
}

main().catch((err: unknown) => {
  process.stderr.write(`webhook: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
