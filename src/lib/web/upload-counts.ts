import type { PrismaClient } from '../../generated/prisma/client.ts';

/** Off-site copies not (yet) made: waiting for their upload (or a retry), and given up on. */
export interface UploadCounts {
  pending: number;
  failed: number;
}

/** Counts the PENDING and FAILED uploads of a workspace's or a deployment's backups, in one query. */
export async function countOpenUploads(
  db: PrismaClient,
  scope: { workspaceId: string } | { deploymentId: string },
): Promise<UploadCounts> {
  const groups = await db.backupUpload.groupBy({
    by: ['status'],
    where: { status: { in: ['PENDING', 'FAILED'] }, backupRecord: scope },
    _count: { _all: true },
  });
  const count = (status: string) => groups.find((group) => group.status === status)?._count._all ?? 0;
  return { pending: count('PENDING'), failed: count('FAILED') };
}
