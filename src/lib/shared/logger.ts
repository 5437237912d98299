import { pino, type Logger, type LevelWithSilent } from 'pino';
import { REDACTED, redactFields, redactSecrets } from './redact.ts';

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
 * `env`, any key `isSecretKey` names, at any depth) and by pattern in every message and field string
 * (`redactSecrets`: connection-string passwords, bearer tokens, `PASSWORD=…`, `--password value`, `-pVALUE`, …).
 * Modules take `logger.child({ module: 'ops-agent/backup' })`.
 */
export function createLogger(options: { level: LevelWithSilent; destination?: pino.DestinationStream }): Logger {
  return pino(
    {
      level: options.level,
      redact: { paths: REDACTED_PATHS, censor: REDACTED },
      // Every field of every line, at any depth: secret keys' values hidden, secret-looking text redacted.
      // (A child logger's bindings are covered by `redact.paths` only: they name modules and ids, not secrets.)
      formatters: { log: (fields) => redactFields(fields) as Record<string, unknown> },
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
