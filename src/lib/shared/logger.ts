import { pino, type Logger, type LevelWithSilent } from 'pino';
import { REDACTED, redactSecrets } from './redact.ts';

export type { Logger } from 'pino';

const REDACTED_PATHS = [
  'password',
  '*.password',
  'token',
  '*.token',
  'apiKey',
  '*.apiKey',
  'secret',
  '*.secret',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'DATABASE_URL',
  '*.DATABASE_URL',
  'connectionString',
  '*.connectionString',
  'env',
  '*.env',
];

/**
 * The process logger: JSON lines on stdout (or `destination`), secrets redacted both by key (`password`, `token`,
 * `env`, …) and by pattern in every message string (connection-string passwords, bearer tokens, `PASSWORD=…`).
 * Modules take `logger.child({ module: 'ops-agent/backup' })`.
 */
export function createLogger(options: { level: LevelWithSilent; destination?: pino.DestinationStream }): Logger {
  return pino(
    {
      level: options.level,
      redact: { paths: REDACTED_PATHS, censor: REDACTED },
      hooks: {
        logMethod(args, method) {
          const scrubbed = args.map((arg: unknown) => (typeof arg === 'string' ? redactSecrets(arg) : arg));
          return method.apply(this, scrubbed as Parameters<typeof method>);
        },
      },
      serializers: {
        err: (error: unknown) => {
          const serialized = pino.stdSerializers.err(error as Error);
          return {
            ...serialized,
            message: redactSecrets(serialized.message),
            stack: redactSecrets(serialized.stack ?? ''),
          };
        },
      },
    },
    options.destination,
  );
}
