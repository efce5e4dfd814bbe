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

/** Creates the service logger: JSON lines, short lowercase messages, secrets redacted. */
export function createLogger(options: { name: string; level?: string; destination?: pino.DestinationStream }): Logger {
  const config: LoggerOptions = {
    name: options.name,
    level: options.level ?? 'info',
    redact: { paths: redactPaths, censor: '[redacted]' },
    base: { service: options.name },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return options.destination ? pino(config, options.destination) : pino(config);
}
