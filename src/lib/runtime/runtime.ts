import { existsSync } from 'node:fs';
import { pino } from 'pino';
import { ConfigError, describeConfig, loadConfig, type Config } from './config.ts';
import { type Database, openDatabase } from '../db/index.ts';
import { BackupRootUnusableError } from '../storage/index.ts';
import { createLogger, type Logger } from '../shared/index.ts';

/** What every entry point (worker, CLI, web) builds first: validated config, the logger, the migrated database. */
export interface Runtime {
  config: Config;
  logger: Logger;
  database: Database;
}

/** Builds the runtime from the environment. Throws `ConfigError` for bad configuration. */
export async function openRuntime(
  env: Record<string, string | undefined>,
  name: string,
  options: { logToStderr?: boolean } = {},
): Promise<Runtime> {
  const config = loadConfig(env);
  // Commands whose stdout is their answer (the CLI) log to stderr.
  const destination = options.logToStderr ? pino.destination(2) : undefined;
  const logger = createLogger({ level: config.LOG_LEVEL, ...(destination ? { destination } : {}) }).child({
    process: name,
  });
  const database = await openDatabase({
    databaseUrl: config.DATABASE_URL,
    embeddedDir: config.EMBEDDED_DATABASE_DIR,
    logger,
  });
  logger.info(
    {
      config: describeConfig(config),
      database: { kind: database.kind, location: database.location },
      migrations: database.migrations,
    },
    `${name} ready`,
  );
  return { config, logger, database };
}

/**
 * The process environment, after loading `.env` from the working directory when there is one (variables already
 * set in the environment win), as docker compose does for the worker container.
 */
export function readEnvironment(): NodeJS.ProcessEnv {
  if (existsSync('.env')) process.loadEnvFile('.env');
  return process.env;
}

/**
 * Runs an entry point's main function: a configuration problem (bad environment, unusable backup root) prints its
 * message (no stack) and exits 2; any other failure is printed and exits 1.
 */
export function runMain(main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    if (error instanceof ConfigError || error instanceof BackupRootUnusableError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
