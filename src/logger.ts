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
];

export function createLogger(level: string, destination: pino.DestinationStream = pino.destination({ fd: 1, sync: false })): Logger {
  return pino({ level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { service: 'webhook' } }, destination);
}
