import type { Prisma, PrismaClient } from '../../generated/prisma/client.ts';

/**
 * Backup claims: a lease on a deployment row that makes sure only one backup of a deployment runs at a time, across
 * every worker process. A claim is taken with one conditional UPDATE (free, or expired), renewed while the backup
 * runs, and released at the end; a crashed worker's claim simply expires.
 */

/** Takes the claim if it is free or expired. True when this token now holds it. Works inside a transaction. */
export async function claimDeployment(
  db: Prisma.TransactionClient,
  claim: { deploymentId: string; token: string; now: Date; ttlMs: number },
): Promise<boolean> {
  const { count } = await db.deployment.updateMany({
    where: {
      id: claim.deploymentId,
      OR: [{ backupClaimToken: null }, { backupClaimExpiresAt: null }, { backupClaimExpiresAt: { lte: claim.now } }],
    },
    data: { backupClaimToken: claim.token, backupClaimExpiresAt: new Date(claim.now.getTime() + claim.ttlMs) },
  });
  return count === 1;
}

/** Extends a claim this token holds. False when it was lost (expired and taken by someone else). */
export async function renewClaim(
  db: PrismaClient,
  claim: { deploymentId: string; token: string; now: Date; ttlMs: number },
): Promise<boolean> {
  const { count } = await db.deployment.updateMany({
    where: { id: claim.deploymentId, backupClaimToken: claim.token },
    data: { backupClaimExpiresAt: new Date(claim.now.getTime() + claim.ttlMs) },
  });
  return count === 1;
}

/** Releases a claim this token holds (a no-op when it no longer holds it). */
export async function releaseClaim(
  db: Prisma.TransactionClient,
  claim: { deploymentId: string; token: string },
): Promise<void> {
  await db.deployment.updateMany({
    where: { id: claim.deploymentId, backupClaimToken: claim.token },
    data: { backupClaimToken: null, backupClaimExpiresAt: null },
  });
}
