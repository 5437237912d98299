import type { BackupDependencies } from '../backups/index.ts';
import { openServices, readEnvironment, type Runtime } from '../runtime/index.ts';

/** What the web server's pages and route handlers use: the runtime and the backup service, built once per process. */
export interface WebContext {
  runtime: Runtime;
  backup: BackupDependencies;
}

const globalForWeb = globalThis as typeof globalThis & { opsWebContext?: Promise<WebContext> };

/**
 * The web process's context, opened on first use (config validated, database migrated) and shared afterwards, also
 * across Next.js module reloads in development. A failed opening (database unreachable) is not kept: the next
 * request tries again, so the dashboard recovers without a restart.
 */
export function getWebContext(): Promise<WebContext> {
  globalForWeb.opsWebContext ??= openServices(readEnvironment(), 'web')
    .then(({ runtime, backup }) => ({ runtime, backup }))
    .catch((error: unknown) => {
      globalForWeb.opsWebContext = undefined;
      throw error;
    });
  return globalForWeb.opsWebContext;
}
