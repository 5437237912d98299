import type { BackupRecord, BackupTrigger } from '../../generated/prisma/client.ts';
import { type BackupDependencies, executeBackup, type SkipCode } from '../backups/index.ts';

export type StartBackupResult =
  | { kind: 'started'; record: BackupRecord }
  | { kind: 'running'; record: BackupRecord }
  | { kind: 'refused'; code: SkipCode; reason: string };

/**
 * Starts a backup and answers as soon as its RUNNING record exists, while the backup goes on in the background (an
 * API answers 202 with the record). A backup of the same deployment already running is returned instead of a
 * second one; a refusal (FAILED deployment, no dataExport, …) comes back with its reason.
 */
export function startBackup(
  deps: BackupDependencies,
  deploymentId: string,
  trigger: BackupTrigger,
): Promise<StartBackupResult> {
  const log = deps.logger.child({ module: 'web/start-backup', deploymentId });
  return new Promise<StartBackupResult>((resolve, reject) => {
    executeBackup(deps, deploymentId, { trigger, onStarted: (record) => resolve({ kind: 'started', record }) })
      .then((outcome) => {
        if (outcome.status !== 'SKIPPED') return;
        if (outcome.code === 'ALREADY_RUNNING' && outcome.runningRecord)
          resolve({ kind: 'running', record: outcome.runningRecord });
        else resolve({ kind: 'refused', code: outcome.code, reason: outcome.reason });
      })
      .catch((error: unknown) => {
        log.error({ err: error }, 'backup started from the web crashed');
        reject(error);
      });
  });
}
