import path from 'node:path';
import type { Prisma, PrismaClient } from '../../generated/prisma/client.ts';
import type { OffsiteDestination } from './destination.ts';
import type { UploadRetryDecision } from './upload-backoff.ts';

/**
 * The BackupUpload rows: one per backup and destination. PENDING rows are due at `nextAttemptAt`; a worker takes one
 * by moving `nextAttemptAt` ahead (a lease it renews while uploading), so two workers never upload the same copy and
 * a crashed worker's upload is taken up again once its lease runs out.
 */

/** A due upload with what uploading it needs. */
export const dueUploadSelect = {
  id: true,
  destination: true,
  objectKey: true,
  attempts: true,
  nextAttemptAt: true,
  backupRecord: {
    select: {
      id: true,
      status: true,
      path: true,
      extension: true,
      sha256: true,
      sizeBytes: true,
      startedAt: true,
      workspaceId: true,
      deploymentId: true,
      deployment: { select: { name: true, workspace: { select: { slug: true } } } },
    },
  },
} satisfies Prisma.BackupUploadSelect;

export type DueUpload = Prisma.BackupUploadGetPayload<{ select: typeof dueUploadSelect }>;

/** A successful backup that could not get an upload row (its names cannot form an object key). */
export interface UnqueuedBackup {
  backupRecordId: string;
  reason: string;
}

/**
 * Adds a PENDING upload, due `now`, for every SUCCEEDED backup with a file that has none for `destination` (only
 * `backupId` when given). Safe when several workers do it at once. Returns how many rows were added.
 */
export async function queueMissingUploads(
  db: PrismaClient,
  destination: OffsiteDestination,
  now: Date,
  backupId?: string,
): Promise<{ queued: number; unqueued: UnqueuedBackup[] }> {
  const backups = await db.backupRecord.findMany({
    where: {
      status: 'SUCCEEDED',
      path: { not: null },
      uploads: { none: { destination: destination.name } },
      ...(backupId ? { id: backupId } : {}),
    },
    select: { id: true, workspaceId: true, path: true, deployment: { select: { name: true } } },
    orderBy: { startedAt: 'asc' },
  });
  const rows: Prisma.BackupUploadCreateManyInput[] = [];
  const unqueued: UnqueuedBackup[] = [];
  for (const backup of backups) {
    try {
      const objectKey = destination.objectKeyFor({
        workspaceId: backup.workspaceId,
        deploymentName: backup.deployment.name,
        fileName: path.basename(backup.path ?? ''),
      });
      rows.push({
        backupRecordId: backup.id,
        destination: destination.name,
        objectKey,
        status: 'PENDING',
        nextAttemptAt: now,
      });
    } catch (error) {
      unqueued.push({ backupRecordId: backup.id, reason: (error as Error).message });
    }
  }
  if (rows.length === 0) return { queued: 0, unqueued };
  const { count } = await db.backupUpload.createMany({ data: rows, skipDuplicates: true });
  return { queued: count, unqueued };
}

/** Up to `limit` PENDING uploads of these destinations that are due at `now`, the longest waiting first. */
export function findDueUploads(
  db: PrismaClient,
  destinations: readonly string[],
  now: Date,
  options: { limit: number; backupId?: string },
): Promise<DueUpload[]> {
  return db.backupUpload.findMany({
    where: {
      status: 'PENDING',
      destination: { in: [...destinations] },
      nextAttemptAt: { lte: now },
      ...(options.backupId ? { backupRecordId: options.backupId } : {}),
    },
    select: dueUploadSelect,
    orderBy: { nextAttemptAt: 'asc' },
    take: options.limit,
  });
}

/**
 * Takes a due upload until `until` (its `nextAttemptAt` as it was read proves nobody took it since). False when
 * another worker was first.
 */
export async function leaseUpload(
  db: PrismaClient,
  upload: Pick<DueUpload, 'id' | 'nextAttemptAt'>,
  until: Date,
): Promise<boolean> {
  const { count } = await db.backupUpload.updateMany({
    where: { id: upload.id, status: 'PENDING', nextAttemptAt: upload.nextAttemptAt },
    data: { nextAttemptAt: until },
  });
  return count === 1;
}

/** Extends the lease of an upload in progress (or hands it back at once with `until` = now). */
export async function renewUploadLease(db: PrismaClient, uploadId: string, until: Date): Promise<void> {
  await db.backupUpload.updateMany({ where: { id: uploadId, status: 'PENDING' }, data: { nextAttemptAt: until } });
}

/** Marks an upload done. False when its row is gone: the backup was pruned while its copy was on its way. */
export async function markUploaded(db: PrismaClient, uploadId: string, at: Date): Promise<boolean> {
  const { count } = await db.backupUpload.updateMany({
    where: { id: uploadId },
    data: { status: 'UPLOADED', uploadedAt: at, lastError: null },
  });
  return count === 1;
}

/** Records a failed attempt: PENDING with its next attempt time, or FAILED; `lastError` must already be redacted. */
export async function recordFailedAttempt(
  db: PrismaClient | Prisma.TransactionClient,
  uploadId: string,
  decision: UploadRetryDecision,
  lastError: string,
): Promise<void> {
  await db.backupUpload.update({
    where: { id: uploadId },
    data: {
      status: decision.status,
      attempts: decision.attempts,
      lastError,
      ...(decision.status === 'PENDING' ? { nextAttemptAt: decision.nextAttemptAt } : {}),
    },
  });
}

/** Uploads of a deployment that failed and are still being retried (they keep its upload alert open). */
export function countRetryingUploads(db: PrismaClient, deploymentId: string): Promise<number> {
  return db.backupUpload.count({ where: { status: 'PENDING', attempts: { gt: 0 }, backupRecord: { deploymentId } } });
}

/**
 * An operator's retry: every not-yet-uploaded copy of one backup becomes PENDING, due `now`, with a fresh attempt
 * budget. Returns how many rows changed.
 */
export async function requeueUploads(db: PrismaClient, backupId: string, now: Date): Promise<number> {
  const { count } = await db.backupUpload.updateMany({
    where: { backupRecordId: backupId, status: { in: ['PENDING', 'FAILED'] } },
    data: { status: 'PENDING', attempts: 0, nextAttemptAt: now },
  });
  return count;
}
