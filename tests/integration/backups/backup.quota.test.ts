import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Deployment } from '../../../src/generated/prisma/client.ts';
import { executeBackup, type BackupDependencies } from '../../../src/lib/backups/backup.ts';
import { createFileBackupStore } from '../../../src/lib/storage/backup-store.ts';
import { reserveBytes } from '../../../src/lib/storage/volume-reserve.ts';
import { podFor, startBackupHarness, type BackupHarness } from '../../support/backup-harness.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';

/**
 * One tenant cannot fill the shared volume: a backup growing past its deployment's cap (`maxBackupBytes`) is aborted,
 * FAILED `QuotaExceeded`, with no file left and a critical alert; and when the volume's free space is below the
 * reserve, no backup starts (no exec reaches the pod), again FAILED with an alert.
 */
const GIB = 1024n ** 3n;
/** Far more than any disk here has free. */
const HUGE_RESERVE = 1024n ** 6n;

let harness: BackupHarness;
let workspaceId: string;

/** A real pg_dump of the local `postgres` database (a few KiB), from a deployment with the given fields. */
async function postgresDeployment(fields: Partial<Deployment> = {}): Promise<Deployment> {
  const deployment = await createDeployment(harness.db.prisma, workspaceId, { recipeSlug: 'postgresql', ...fields });
  harness.kube.pods.push(
    podFor(deployment.name, 'postgres', { PGHOST: '127.0.0.1', POSTGRES_USER: 'postgres', POSTGRES_DB: 'postgres' }),
  );
  return deployment;
}

async function filesOf(deployment: Deployment): Promise<string[]> {
  return readdir(path.join(harness.root, deployment.workspaceId, deployment.name)).catch(() => []);
}

async function openAlerts(deployment: Deployment) {
  return harness.db.prisma.alert.findMany({ where: { deploymentId: deployment.id, resolvedAt: null } });
}

beforeAll(async () => {
  harness = await startBackupHarness();
  workspaceId = (await createWorkspace(harness.db.prisma)).id;
});
afterAll(async () => {
  await harness?.close();
});

describe('the per-deployment cap (maxBackupBytes)', () => {
  it('a backup past its cap is FAILED QuotaExceeded, with no file and an alert', async () => {
    const deployment = await postgresDeployment({ maxBackupBytes: 64n });
    const outcome = await executeBackup(harness.deps, deployment.id, { trigger: 'MANUAL' });

    expect(outcome.status).toBe('FAILED');
    if (outcome.status !== 'FAILED') return;
    expect(outcome.record).toMatchObject({ errorKind: 'QuotaExceeded', path: null, sizeBytes: null });
    expect(outcome.record.error).toMatch(/exceeded its deployment's cap of 64 bytes/);
    expect(await filesOf(deployment)).toEqual([]);
    expect(await openAlerts(deployment)).toMatchObject([
      { kind: 'backup_failed', severity: 'CRITICAL', backupRecordId: outcome.record.id },
    ]);
    expect((await openAlerts(deployment))[0]?.message).toMatch(/QuotaExceeded/);
  });

  it('a backup within its cap succeeds', async () => {
    const deployment = await postgresDeployment({ maxBackupBytes: 10n * 1024n * 1024n });
    const outcome = await executeBackup(harness.deps, deployment.id, { trigger: 'MANUAL' });
    expect(outcome.status).toBe('SUCCEEDED');
  });
});

describe('the volume reserve (BACKUP_MIN_FREE_BYTES / BACKUP_MIN_FREE_PERCENT)', () => {
  it('a reserve above the free space starts no backup: FAILED VolumeReserve, no exec, no file, an alert', async () => {
    const deps: BackupDependencies = {
      ...harness.deps,
      store: createFileBackupStore({
        root: harness.root,
        logger: harness.deps.logger,
        reserve: { minFreeBytes: HUGE_RESERVE, minFreePercent: 0 },
      }),
    };
    const deployment = await postgresDeployment();
    const execsBefore = harness.kube.execs.length;

    const outcome = await executeBackup(deps, deployment.id, { trigger: 'MANUAL' });

    expect(outcome.status).toBe('FAILED');
    if (outcome.status !== 'FAILED') return;
    expect(outcome.record.errorKind).toBe('VolumeReserve');
    expect(outcome.record.error).toMatch(/below its reserve of \d+ bytes; the backup was not started/);
    expect(harness.kube.execs.length).toBe(execsBefore);
    expect(await filesOf(deployment)).toEqual([]);
    expect(await openAlerts(deployment)).toMatchObject([{ kind: 'backup_failed', backupRecordId: outcome.record.id }]);
  });

  it('the reserve is the larger of its two settings; one the volume has room for lets the backup run', async () => {
    const full = { minFreeBytes: 0n, minFreePercent: 90 };
    const none = { minFreeBytes: 0n, minFreePercent: 0 };
    expect(reserveBytes(full, 100n * GIB)).toBe(90n * GIB);
    expect(reserveBytes({ minFreeBytes: GIB, minFreePercent: 0.5 }, 100n * GIB)).toBe(GIB);
    expect(reserveBytes(none, 100n * GIB)).toBe(0n);
    const deps: BackupDependencies = {
      ...harness.deps,
      store: createFileBackupStore({
        root: harness.root,
        logger: harness.deps.logger,
        reserve: { minFreeBytes: 1n, minFreePercent: 0 },
      }),
    };
    const outcome = await executeBackup(deps, (await postgresDeployment()).id, { trigger: 'MANUAL' });
    expect(outcome.status).toBe('SUCCEEDED');
  });
});
