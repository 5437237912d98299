import type { PrismaClient } from '../../generated/prisma/client.ts';
import type { Notifier } from '../alerts/index.ts';
import type { AgeIdentity } from '../encryption/index.ts';
import type { KubeClients } from '../kube/index.ts';
import type { Logger, WorkObserver } from '../shared/index.ts';

/** Everything a restore needs from the outside world (a `BackupDependencies` is one); built by the entry points. */
export interface RestoreDependencies {
  db: PrismaClient;
  kube: KubeClients;
  /** Backup files are only read from below this root. */
  store: { root: string };
  clock: () => Date;
  logger: Logger;
  notifier?: Notifier;
  /** Told how each restore ended (the worker counts them in its Prometheus metrics); optional. */
  observer?: WorkObserver;
  /** age identities (BACKUP_AGE_IDENTITY_FILE) that decrypt encrypted backups; without them those are refused. */
  identities?: readonly AgeIdentity[] | undefined;
  settings: {
    /** Bounds each step (pod lookup, then the exec) of a restore. */
    timeoutMs: number;
    /** A step whose command takes no input for this long is stopped as `Stalled`; default 10 min. */
    stallMs?: number;
    /** Lease of the deployment claim a live restore holds; renewed every third of it. */
    claimTtlMs: number;
  };
}
