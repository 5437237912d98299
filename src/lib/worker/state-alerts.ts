import { BACKUP_BLOCKED_ALERT, BACKUP_OVERDUE_ALERT, type WantedAlertState } from '../alerts/index.ts';
import type { DeploymentBackupState, SkipCode } from '../backups/index.ts';
import { formatLateness } from '../shared/index.ts';

/** Codes that mean "backups are on but cannot run": a person must act, so they raise a warning alert. */
const BLOCKED_CODES: ReadonlySet<SkipCode> = new Set(['DEPLOYMENT_NOT_RUNNING', 'INVALID_SCHEDULE', 'UNKNOWN_RECIPE']);

/**
 * The overdue and blocked alerts a deployment's state calls for, open (with their messages) or resolved: a pure
 * function of the gathered state, applied for every deployment at once by `applyAlertStates`.
 */
export function wantedStateAlerts(deployment: DeploymentBackupState): WantedAlertState[] {
  const base = { workspaceId: deployment.workspaceId, deploymentId: deployment.id, deploymentName: deployment.name };
  const { decision } = deployment;
  const blockedBecause = !decision.due && BLOCKED_CODES.has(decision.code) ? decision.reason : null;
  return [
    deployment.overdue
      ? {
          open: true,
          alert: {
            ...base,
            severity: 'CRITICAL',
            kind: BACKUP_OVERDUE_ALERT,
            message:
              `Backup of ${deployment.workspaceSlug}/${deployment.name} is overdue by ${formatLateness(deployment.overdue.lateByMs)}: ` +
              `the schedule (${deployment.scheduleDescription}) fired at ${deployment.overdue.since.toISOString()} and no backup succeeded since. ` +
              `Last successful backup: ${deployment.lastBackupAt?.toISOString() ?? 'never'}.`,
          },
        }
      : { open: false, deploymentId: deployment.id, kind: BACKUP_OVERDUE_ALERT },
    blockedBecause !== null
      ? {
          open: true,
          alert: {
            ...base,
            severity: 'WARNING',
            kind: BACKUP_BLOCKED_ALERT,
            message: `Backups of ${deployment.workspaceSlug}/${deployment.name} cannot run: ${blockedBecause}.`,
          },
        }
      : { open: false, deploymentId: deployment.id, kind: BACKUP_BLOCKED_ALERT },
  ];
}
