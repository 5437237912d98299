import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeBackup } from '../../../src/lib/backups/backup.ts';
import { startBackupHarness, type BackupHarness } from '../../support/backup-harness.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';

/**
 * Two workers can both find a deployment due; the first backs it up and releases its claim, the second then takes
 * the claim. The second must notice, under the claim, that the backup its decision was based on is no longer the
 * last one, and stand down.
 */
const DECIDED_ON = new Date('2026-03-01T03:00:00Z');
const BACKED_UP_MEANWHILE = new Date('2026-03-02T03:00:05Z');
let harness: BackupHarness;

beforeAll(async () => {
  harness = await startBackupHarness();
});
afterAll(async () => {
  await harness.close();
});

describe('scheduled backup decided on a stale lastBackupAt', () => {
  it('is skipped as NOT_DUE when another backup finished meanwhile: no record, claim released', async () => {
    const workspace = await createWorkspace(harness.db.prisma);
    const deployment = await createDeployment(harness.db.prisma, workspace.id, {
      backupEnabled: true,
      lastBackupAt: BACKED_UP_MEANWHILE,
    });
    const outcome = await executeBackup(harness.deps, deployment.id, {
      trigger: 'SCHEDULE',
      expectedLastBackupAt: DECIDED_ON,
    });
    expect(outcome).toMatchObject({ status: 'SKIPPED', code: 'NOT_DUE' });
    expect(await harness.db.prisma.backupRecord.count({ where: { deploymentId: deployment.id } })).toBe(0);
    const row = await harness.db.prisma.deployment.findUniqueOrThrow({ where: { id: deployment.id } });
    expect(row.backupClaimToken).toBeNull();
  });

  it('goes ahead when lastBackupAt is still the one the decision saw', async () => {
    const workspace = await createWorkspace(harness.db.prisma);
    const deployment = await createDeployment(harness.db.prisma, workspace.id, {
      backupEnabled: true,
      lastBackupAt: DECIDED_ON,
    });
    // No pod exists, so the attempt itself fails: what matters is that it got past the check and made a record.
    const outcome = await executeBackup(harness.deps, deployment.id, {
      trigger: 'SCHEDULE',
      expectedLastBackupAt: DECIDED_ON,
    });
    expect(outcome.status).toBe('FAILED');
    expect(outcome.status !== 'SKIPPED' && outcome.record.errorKind).toBe('PodNotFound');
  });
});
