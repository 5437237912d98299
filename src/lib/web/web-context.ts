import type { BackupDependencies } from '../backups/index.ts';
import type { JobQueue } from '../jobs/index.ts';
import { openServices, readEnvironment, type Runtime } from '../runtime/index.ts';
import { createRequestLimits, type RequestLimits } from './request-limits.ts';
import {
  type CachedSession,
  type CachedToken,
  createCredentialCache,
  type CredentialCaches,
} from './credential-cache.ts';
import type { TransportSettings } from './transport-security.ts';

/**
 * What the web server's pages and route handlers use, built once per process: the runtime, the backup service (for
 * what the web does itself: history, downloads, pins, retention) and the job queue, through which it asks workers
 * for everything that needs the cluster (backups, restore plans, restores).
 */
export interface WebContext {
  runtime: Runtime;
  backup: BackupDependencies;
  jobs(): Promise<JobQueue>;
  /** Whether the dashboard counts as served over https (Secure cookies): production, unless WEB_ALLOW_PLAIN_HTTP. */
  transport: TransportSettings;
  /** The process's rate limits (sign-ins, restore plans, backup requests). */
  limits: RequestLimits;
  /** API token and session rows read shortly before, for read-only requests (see `CREDENTIAL_CACHE_MS`). */
  credentials: Required<CredentialCaches>;
  /** Stops the job queue and closes the database (a server's graceful stop, the end of a test). */
  close(): Promise<void>;
}

const globalForWeb = globalThis as typeof globalThis & { opsWebContext?: Promise<WebContext> };

/**
 * The web process's context, opened on first use (config validated, database migrated) and shared afterwards, also
 * across Next.js module reloads in development. A failed opening (database unreachable) is not kept: the next
 * request tries again, so the dashboard recovers without a restart.
 */
export function getWebContext(): Promise<WebContext> {
  globalForWeb.opsWebContext ??= openServices(readEnvironment(), 'web', { cluster: false })
    .then((services) => ({
      runtime: services.runtime,
      backup: services.backup,
      jobs: services.jobs,
      transport: {
        production: process.env.NODE_ENV === 'production',
        allowPlainHttp: services.runtime.config.WEB_ALLOW_PLAIN_HTTP,
      },
      limits: createRequestLimits(),
      credentials: {
        tokens: createCredentialCache<CachedToken>(),
        sessions: createCredentialCache<CachedSession>(),
      },
      close: () => services.close(),
    }))
    .catch((error: unknown) => {
      globalForWeb.opsWebContext = undefined;
      throw error;
    });
  return globalForWeb.opsWebContext;
}
