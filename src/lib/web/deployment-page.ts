import type { PrismaClient } from '../../generated/prisma/client.ts';
import { checkBackupEligibility, findOverdue, type Overdue } from '../backups/index.ts';
import { describeCron, nextFireTime, tryParseCron } from '../cron/index.ts';
import {
  type DeploymentRetentionColumns,
  describeRetentionPolicy,
  InvalidRetentionError,
  retentionPolicyOf,
} from '../retention/index.ts';
import type { Principal } from './principal.ts';
import { countOpenUploads, type UploadCounts } from './upload-counts.ts';
import { loadTestRestoreSummary, type TestRestoreSummary } from './test-restore-summary.ts';
import { isRecordId } from '../shared/index.ts';

/** Deployment ids are cuids; anything else cannot exist and is answered 404 without a query. */

/** The top of a deployment's backups page: what is scheduled, what happened last, what is kept. */
export interface DeploymentBackupSummary {
  id: string;
  name: string;
  recipeSlug: string;
  status: string;
  namespace: string;
  backupEnabled: boolean;
  /** The schedule in words ("every day at 03:00 (UTC)"), or why there is none or it is unusable. */
  scheduleDescription: string;
  schedule: string | null;
  /** When the schedule fires next (null: no usable schedule, or scheduled backups are off). */
  nextRunAt: Date | null;
  /** Start of the last successful backup. */
  lastSuccessAt: Date | null;
  overdue: Overdue | null;
  /** The retention policy in words ("keep-last 10, daily 7, …"), or why the Deployment columns do not make one. */
  retentionDescription: string;
  storedBackups: number;
  storedBytes: bigint;
  /** The cap on one backup's stored bytes (`maxBackupBytes`); null: none. */
  maxBackupBytes: bigint | null;
  /** Null when "Back up now" can run; else the reason it cannot (FAILED deployment, nothing to export, …). */
  manualBackupBlockedBy: string | null;
  /** Off-site copies of this deployment's backups still waiting for their upload, and those given up on. */
  uploads: UploadCounts;
  /** Scheduled test-restores: schedule, next run, the last result. */
  testRestore: TestRestoreSummary;
}

/**
 * Loads the summary of deployment `deploymentId` for `principal`. A deployment that does not exist or belongs to
 * another workspace is null (the page answers 404): the answer never tells which of the two it was.
 */
export async function loadDeploymentBackupSummary(
  db: PrismaClient,
  principal: Pick<Principal, 'workspaceId'>,
  deploymentId: string,
  options: { now: Date; overdueGraceMs: number },
): Promise<DeploymentBackupSummary | null> {
  if (!isRecordId(deploymentId)) return null;
  const deployment = await db.deployment.findFirst({ where: { id: deploymentId, workspaceId: principal.workspaceId } });
  if (!deployment) return null;
  const [stored, uploads] = await Promise.all([
    db.backupRecord.aggregate({
      where: { deploymentId, status: 'SUCCEEDED' },
      _count: { _all: true },
      _sum: { sizeBytes: true },
    }),
    countOpenUploads(db, { deploymentId }),
  ]);
  const parsed = deployment.backupSchedule
    ? tryParseCron(deployment.backupSchedule, { timezone: deployment.backupTimezone })
    : null;
  return {
    id: deployment.id,
    name: deployment.name,
    recipeSlug: deployment.recipeSlug,
    status: deployment.status,
    namespace: deployment.namespace,
    backupEnabled: deployment.backupEnabled,
    schedule: deployment.backupSchedule,
    scheduleDescription: !parsed
      ? 'no schedule'
      : parsed.ok
        ? describeCron(parsed.value)
        : `invalid schedule: ${parsed.error.message}`,
    nextRunAt: deployment.backupEnabled && parsed?.ok ? nextFireTime(parsed.value, options.now) : null,
    lastSuccessAt: deployment.lastBackupAt,
    overdue: findOverdue(deployment, options.now, options.overdueGraceMs),
    retentionDescription: describeRetentionColumns(deployment),
    storedBackups: stored._count._all,
    storedBytes: stored._sum.sizeBytes ?? 0n,
    maxBackupBytes: deployment.maxBackupBytes,
    uploads,
    manualBackupBlockedBy: checkBackupEligibility(deployment)?.reason ?? null,
    testRestore: await loadTestRestoreSummary(db, deployment, options.now),
  };
}

/** The policy retention applies, in words; an invalid column is named (prune refuses to run under it). */
function describeRetentionColumns(columns: DeploymentRetentionColumns): string {
  try {
    return describeRetentionPolicy(retentionPolicyOf(columns));
  } catch (error) {
    if (error instanceof InvalidRetentionError) return `invalid retention policy, nothing is pruned: ${error.details}`;
    throw error;
  }
}
