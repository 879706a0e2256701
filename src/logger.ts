/** pino JSON logs to stdout (journald keeps them); secrets and signatures are redacted. */
import pino from 'pino';

export type Logger = pino.Logger;

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["webhook-signature"]',
  'headers.authorization',
  'headers["webhook-signature"]',
  'config.secrets',
  'config.readToken',
  'config.proxmox.tokenSecret',
];

export function createLogger(level: string, destination: pino.DestinationStream = pino.destination({ fd: 1, sync: false })): Logger {
  return pino({ level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { service: 'webhook' } }, destination);
}

/**
 * A request's child logger, created only when something logs. Most ingest requests log nothing,
 * and building a pino child for each (bindings serialised up front) is measurable at fleet rates.
 */
class LazyChild {
  #real: Logger | undefined;
  constructor(
    private readonly parent: Logger,
    private readonly bindings: pino.Bindings,
    private readonly options: pino.ChildLoggerOptions | undefined,
  ) {}

  private get real(): Logger {
    this.#real ??= this.parent.child(this.bindings, this.options);
    return this.#real;
  }

  get level(): string {
    return this.#real?.level ?? this.parent.level;
  }
  set level(level: string) {
    this.real.level = level;
  }
  fatal(...args: Parameters<Logger['fatal']>): void {
    this.real.fatal(...args);
  }
  error(...args: Parameters<Logger['error']>): void {
    this.real.error(...args);
  }
  warn(...args: Parameters<Logger['warn']>): void {
    this.real.warn(...args);
  }
  info(...args: Parameters<Logger['info']>): void {
    this.real.info(...args);
  }
  debug(...args: Parameters<Logger['debug']>): void {
    if (this.parent.isLevelEnabled('debug')) this.real.debug(...args);
  }
  trace(...args: Parameters<Logger['trace']>): void {
    if (this.parent.isLevelEnabled('trace')) this.real.trace(...args);
  }
  silent(): void {}
  child(bindings: pino.Bindings, options?: pino.ChildLoggerOptions): Logger {
    return this.real.child(bindings, options);
  }
}

/** Fastify's childLoggerFactory: per-request loggers that cost nothing until used. */
export function lazyChildLogger(logger: Logger, bindings: pino.Bindings, options: pino.ChildLoggerOptions | undefined): Logger {
  // Duck-typed to the logger interface Fastify uses (level, the six levels, silent, child).
  return new LazyChild(logger, bindings, options) as unknown as Logger;
}
