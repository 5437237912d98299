import type { PrismaClient } from '../../generated/prisma/client.ts';
import { gatherBackupState, type StateOptions } from '../backups/index.ts';
import type { BackupMetricsSnapshot } from './metrics.ts';

interface BackupSummaryRow {
  deploymentId: string;
  failuresTotal: number;
  lastFinishedAt: Date | null;
  lastDurationMs: number | null;
  lastSizeBytes: string | null;
}

/**
 * What the metrics report for every backup-enabled deployment, in a constant number of queries whatever their number:
 * the cycle's own state (`gatherBackupState`: overdue, running, volume) plus one query for the newest successful
 * backup and the failure count of each deployment.
 */
export async function gatherMetricsSnapshot(
  db: PrismaClient,
  options: Required<Pick<StateOptions, 'now' | 'overdueGraceMs' | 'retryDelayMs' | 'backupRoot'>> &
    Pick<StateOptions, 'query'>,
): Promise<BackupMetricsSnapshot> {
  const [state, summaries] = await Promise.all([
    gatherBackupState(db, options),
    db.$queryRaw<BackupSummaryRow[]>`
      SELECT d.id AS "deploymentId",
             (SELECT count(*) FROM "BackupRecord" f WHERE f."deploymentId" = d.id AND f.status = 'FAILED')::int AS "failuresTotal",
             s."finishedAt" AS "lastFinishedAt", s."durationMs" AS "lastDurationMs", s."sizeBytes"::text AS "lastSizeBytes"
        FROM "Deployment" d
        LEFT JOIN LATERAL (
          SELECT r."finishedAt", r."durationMs", r."sizeBytes" FROM "BackupRecord" r
           WHERE r."deploymentId" = d.id AND r.status = 'SUCCEEDED' AND r."finishedAt" IS NOT NULL
           ORDER BY r."finishedAt" DESC
           LIMIT 1
        ) s ON true
       WHERE d."backupEnabled"`,
  ]);
  const summaryById = new Map(summaries.map((row) => [row.deploymentId, row]));
  return {
    deployments: state.deployments.map((deployment) => {
      const summary = summaryById.get(deployment.id);
      return {
        workspace: deployment.workspaceSlug,
        deployment: deployment.name,
        lastSuccess: summary?.lastFinishedAt
          ? {
              finishedAt: summary.lastFinishedAt,
              durationMs: summary.lastDurationMs,
              sizeBytes: summary.lastSizeBytes === null ? null : BigInt(summary.lastSizeBytes),
            }
          : null,
        failuresTotal: summary?.failuresTotal ?? 0,
        overdue: deployment.overdue !== null,
        running: deployment.running !== null,
      };
    }),
    volume: state.volume ? { usedBytes: state.volume.usedBytes, freeBytes: state.volume.freeBytes } : null,
  };
}
