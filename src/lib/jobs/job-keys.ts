import type { JobData, JobName } from './job-definitions.ts';

/**
 * The key that makes two jobs "the same" for their queue's policy: a deployment has at most one backup (and one
 * test-restore) waiting and one running; a restore is queued once; the upload pass runs once at a time (a backup's
 * own upload has its own key).
 */
export function singletonKeyOf<Name extends JobName>(name: Name, data: JobData<Name>): string {
  const fields = data as Record<string, unknown>;
  switch (name) {
    case 'backup':
    case 'testRestore':
      return String(fields.deploymentId);
    case 'restore':
      return String(fields.restoreId);
    case 'restorePlan':
      return `plan:${String(fields.tokenHash)}`;
    case 'upload':
      return fields.backupId ? `backup:${String(fields.backupId)}` : 'all';
    default:
      throw new Error(`jobs: no key for queue "${String(name)}"`);
  }
}
