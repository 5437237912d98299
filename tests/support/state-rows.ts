import type { DeploymentRow } from '../../src/lib/backups/backup-state.ts';

/**
 * A row of the backup state's deployment statement, as `gatherBackupState` reads it: a RUNNING PostgreSQL deployment
 * backed up daily at 03:00 UTC, keeping 10, with nothing stored; `overrides` say what differs.
 */
export function deploymentRow(
  overrides: Partial<DeploymentRow> & Pick<DeploymentRow, 'id' | 'name' | 'lastBackupAt' | 'createdAt'>,
): DeploymentRow {
  return {
    workspaceId: 'ws1',
    workspaceSlug: 'acme',
    status: 'RUNNING',
    recipeSlug: 'postgresql',
    backupEnabled: true,
    backupSchedule: '0 3 * * *',
    backupTimezone: 'UTC',
    backupRetention: 10,
    storedBackups: 0,
    storedBytes: '0',
    lastFailedAt: null,
    ...overrides,
  };
}
