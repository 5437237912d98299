import { access, constants, stat } from 'node:fs/promises';
import { createKubeClients } from '../backups/data-export.ts';
import { loadKubeConfig } from '../kube/kube-config.ts';
import { createOffsiteDestinations } from '../offsite/s3-destination.ts';
import type { Runtime } from './runtime.ts';
import { createFileBackupStore } from '../storage/backup-store.ts';
import type { BackupDependencies } from '../backups/backup.ts';

/** The backup volume is missing or cannot be written: the worker must not start and pretend to back up. */
export class BackupRootUnusableError extends Error {
  override name = 'BackupRootUnusableError';
  constructor(readonly root: string, reason: string) {
    super(`BACKUP_ROOT "${root}" ${reason}; mount the backup volume there or set BACKUP_ROOT`);
  }
}

/**
 * Checks that the backup root exists, is a folder and is writable. It is never created on the fly: a volume that
 * failed to mount must not be replaced silently by a folder on the container's own disk.
 */
export async function assertBackupRootUsable(root: string): Promise<void> {
  const info = await stat(root).catch(() => null);
  if (!info) throw new BackupRootUnusableError(root, 'does not exist');
  if (!info.isDirectory()) throw new BackupRootUnusableError(root, 'is not a folder');
  await access(root, constants.W_OK).catch(() => {
    throw new BackupRootUnusableError(root, 'is not writable by this process');
  });
}

/**
 * The real backup dependencies of an entry point: Kubernetes from KUBECONFIG (or in-cluster), the file store, and the
 * off-site destinations the configuration names (none when S3_BUCKET is unset).
 */
export function createBackupDependencies(runtime: Runtime): BackupDependencies {
  const { config, logger, database } = runtime;
  return {
    db: database.prisma,
    kube: createKubeClients(loadKubeConfig(config.KUBECONFIG ? { kubeconfigPath: config.KUBECONFIG } : {})),
    store: createFileBackupStore({ root: config.BACKUP_ROOT, logger }),
    clock: () => new Date(),
    logger,
    destinations: createOffsiteDestinations(config),
    settings: { timeoutMs: config.BACKUP_TIMEOUT_SECONDS * 1_000, claimTtlMs: config.BACKUP_CLAIM_TTL_SECONDS * 1_000 },
  };
}
