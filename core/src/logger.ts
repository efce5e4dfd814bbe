import { type Logger, type LoggerOptions, pino } from 'pino';

export type { Logger };

// Paths whose values must never reach a log line: credentials in headers, provider keys,
// prompt bodies (they can hold the very secrets the scanner blocks) and passwords.
const redactPaths = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'headers.authorization',
  'headers["x-api-key"]',
  'res.headers["set-cookie"]',
  '*.apiKey',
  '*.password',
  '*.passwordHash',
  '*.body',
  '*.prompt',
  '*.messages',
  'apiKey',
  'password',
  'body',
];

/**
 * Creates the service logger: JSON lines, short lowercase messages, secrets redacted. The
 * service goes in `service`, not pino's `name`: the operator's child loggers carry the
 * resource's `name` (STYLE: {kind, namespace, name, generation}), and two `name` keys on one
 * line is JSON most parsers read as the last one only.
 */
export function createLogger(options: { name: string; level?: string; destination?: pino.DestinationStream }): Logger {
  const config: LoggerOptions = {
    level: options.level ?? 'info',
    redact: { paths: redactPaths, censor: '[redacted]' },
    base: { service: options.name },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return options.destination ? pino(config, options.destination) : pino(config);
}
