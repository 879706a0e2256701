/**
 * Admin commands on the configured database (WEBHOOK_DB):
 *   node dist/src/cli.js migrate          apply pending migrations and exit
 *   node dist/src/cli.js backup <file>    write a consistent copy of the live database
 */
import { ConfigError, loadConfig } from './config.js';
import { openDatabase } from './db/database.js';
import { DatabaseTooNewError, migrate } from './db/migrate.js';

const USAGE = `usage: webhook-cli migrate | backup <destination-file>
  migrate   apply pending migrations to WEBHOOK_DB
  backup    SQLite online backup of WEBHOOK_DB (safe while the service runs);
            restore by stopping the service and copying the file back to WEBHOOK_DB`;

async function run(args: string[]): Promise<number> {
  const [command, dest] = args;
  if (command === undefined || command === '--help' || command === '-h') {
    process.stdout.write(`${USAGE}\n`);
    return command === undefined ? 64 : 0;
  }
  const config = loadConfig(process.env);
  const db = openDatabase(config.dbPath);
  try {
    if (command === 'migrate') {
      const applied = migrate(db);
      process.stdout.write(applied.length > 0 ? `applied migrations ${applied.join(', ')}\n` : 'database is up to date\n');
      return 0;
    }
    if (command === 'backup' && dest !== undefined) {
      await db.backup(dest);
      process.stdout.write(`backup written to ${dest}\n`);
      return 0;
    }
    process.stderr.write(`${USAGE}\n`);
    return 64;
  } finally {
    db.close();
  }
}

run(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    const known = err instanceof ConfigError || err instanceof DatabaseTooNewError;
    process.stderr.write(`webhook-cli: ${known ? (err as Error).message : String(err)}\n`);
    process.exit(known ? 2 : 1);
  },
);
