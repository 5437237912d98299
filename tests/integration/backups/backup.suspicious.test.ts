import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Deployment } from '../../../src/generated/prisma/client.ts';
import { executeBackup } from '../../../src/lib/backups/backup.ts';
import { pruneBackups } from '../../../src/lib/retention/prune.ts';
import { createSourceDatabase } from '../../support/backup-checks.ts';
import { podFor, startBackupHarness, type BackupHarness } from '../../support/backup-harness.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';
import { databaseUrl, dropDatabase } from '../../support/postgres.ts';

// A backup that succeeds but is far smaller than the ones before it (the table was emptied, the dump lost most of
// the data) is SUCCEEDED and flagged suspicious, with a warning alert; retention never counts it, so a run of tiny
// dumps cannot push the normal backups out. Real pg_dump runs, through the fake Kubernetes API.

/** Enough rows for a dump of a few hundred KB; emptied, the dump is a few KB. */
const SOURCE_ROWS = 20_000;
/** The deployment's keep-last: fewer than the backups made below, so only the suspicious rule saves the normal ones. */
const KEEP_LAST = 3;

let harness: BackupHarness;
let sourceDatabase: string;
let deployment: Deployment;

beforeAll(async () => {
  sourceDatabase = await createSourceDatabase(SOURCE_ROWS);
  harness = await startBackupHarness();
  const workspace = await createWorkspace(harness.db.prisma);
  deployment = await createDeployment(harness.db.prisma, workspace.id, { backupRetention: KEEP_LAST });
  harness.kube.pods.push(
    podFor(deployment.name, 'postgres', {
      PGHOST: '127.0.0.1',
      POSTGRES_USER: 'postgres',
      POSTGRES_DB: sourceDatabase,
    }),
  );
});

afterAll(async () => {
  await harness?.close();
  if (sourceDatabase) await dropDatabase(sourceDatabase);
});

async function backUp() {
  const outcome = await executeBackup(harness.deps, deployment.id, { trigger: 'MANUAL' });
  if (outcome.status !== 'SUCCEEDED') throw new Error(`the backup ended ${outcome.status}`);
  return outcome.record;
}

async function emptySource(): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl(sourceDatabase) });
  await client.connect();
  await client.query('TRUNCATE items');
  await client.end();
}

const openAlerts = () =>
  harness.db.prisma.alert.findMany({
    where: { deploymentId: deployment.id, resolvedAt: null },
    orderBy: { kind: 'asc' },
  });

describe('a backup far smaller than the recent ones', () => {
  const normalIds: string[] = [];

  it('starts from backups of normal size, none of them suspicious', async () => {
    for (let index = 0; index < KEEP_LAST; index += 1) {
      const record = await backUp();
      expect(record).toMatchObject({ status: 'SUCCEEDED', suspicious: false, suspiciousReason: null });
      normalIds.push(record.id);
    }
    expect(await openAlerts()).toEqual([]);
  });

  it('is SUCCEEDED and suspicious, with the figures and a warning alert', async () => {
    await emptySource();

    const tiny = await backUp();

    expect(tiny).toMatchObject({ status: 'SUCCEEDED', suspicious: true });
    expect(tiny.suspiciousReason).toMatch(/% of the median size \(.+\) of the last 3 successful backups; under 50%/);
    const alerts = await openAlerts();
    expect(alerts.find((alert) => alert.kind === 'backup_suspicious')).toMatchObject({
      severity: 'WARNING',
      backupRecordId: tiny.id,
    });
    expect(alerts.find((alert) => alert.kind === 'backup_suspicious')!.message).toContain(
      'succeeded but is suspicious',
    );
  });

  it('never lets tiny backups push the normal ones out: retention keeps all of them', async () => {
    await backUp();
    await backUp();

    const records = await harness.db.prisma.backupRecord.findMany({ where: { deploymentId: deployment.id } });
    expect(records).toHaveLength(KEEP_LAST + 3);
    expect(records.filter((record) => record.suspicious)).toHaveLength(3);
    const plan = await pruneBackups(harness.deps, deployment.id, { dryRun: true });
    expect(plan.pruned).toEqual([]);
    const normalKept = plan.keep.filter((kept) => normalIds.includes(kept.id));
    expect(normalKept).toHaveLength(KEEP_LAST);
    for (const kept of normalKept) expect(kept.reasons).toContain('keep-last');
    expect(normalKept[0]!.reasons).toContain('newest-normal');
  });

  it('becomes the normal size once most recent backups are that small, which resolves the alert', async () => {
    const settled = await backUp();

    expect(settled).toMatchObject({ suspicious: false });
    expect((await openAlerts()).map((alert) => alert.kind)).not.toContain('backup_suspicious');
  });
});
