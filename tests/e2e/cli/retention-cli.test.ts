import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackupRecord, Deployment } from '../../../src/generated/prisma/client.ts';
import { filesUnder, folderOf } from '../../support/backup-checks.ts';
import { startBackupHarness, type BackupHarness } from '../../support/backup-harness.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';
import { createTestDatabase } from '../../support/test-database.ts';
import { childEnvironment, startEntryPoint } from '../../support/processes.ts';

/**
 * `npm run backup -- prune|pin|unpin|reindex` as separate processes against a cloned database and a backup root in a temp
 * folder: the dry run prints the plan with its reasons and deletes nothing, flags override single rules of the
 * deployment's policy, a pinned backup survives, and bad values are refused with exit code 2.
 */
const CLI = 'src/cli/backup.ts';
const T0 = new Date('2026-03-01T03:00:00Z');
const DAY_MS = 86_400_000;

let harness: BackupHarness;
let workspaceId: string;

beforeAll(async () => {
  harness = await startBackupHarness();
  workspaceId = (await createWorkspace(harness.db.prisma)).id;
});

afterAll(async () => {
  await harness?.close();
});

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; output: string }> {
  return runCliWith(args, {
    DATABASE_URL: harness.db.url,
    KUBECONFIG: harness.kube.kubeconfigPath,
    BACKUP_ROOT: harness.root,
  });
}

async function runCliWith(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; output: string }> {
  const cli = startEntryPoint(CLI, args, childEnvironment(env));
  let stdout = '';
  cli.child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  const code = await cli.exited;
  return { code: typeof code === 'number' ? code : null, stdout, output: cli.output() };
}

async function seedBackup(deployment: Deployment, days: number): Promise<BackupRecord> {
  const startedAt = new Date(T0.getTime() + days * DAY_MS);
  const writer = await harness.deps.store.open({
    workspaceId,
    deploymentName: deployment.name,
    extension: 'dump',
    compressed: true,
    startedAt,
  });
  writer.stream.write(randomBytes(1024));
  const stored = await writer.commit();
  return harness.db.prisma.backupRecord.create({
    data: {
      deploymentId: deployment.id,
      workspaceId,
      trigger: 'SCHEDULE',
      status: 'SUCCEEDED',
      startedAt,
      finishedAt: startedAt,
      path: stored.path,
      sizeBytes: stored.sizeBytes,
      sha256: stored.sha256,
      extension: stored.extension,
    },
  });
}

async function recordIds(deployment: Deployment): Promise<string[]> {
  return (
    await harness.db.prisma.backupRecord.findMany({ where: { deploymentId: deployment.id }, select: { id: true } })
  )
    .map((r) => r.id)
    .sort();
}

describe('retention CLI', () => {
  it('prints the plan with reasons in a dry run, pins, and prunes with flags overriding the policy', async () => {
    const deployment = await createDeployment(harness.db.prisma, workspaceId, {
      name: `db-${randomBytes(4).toString('hex')}`,
      backupRetention: 5,
    });
    const backups: BackupRecord[] = [];
    for (let day = 0; day < 4; day += 1) backups.push(await seedBackup(deployment, day));
    const [first, second, third, fourth] = backups as [BackupRecord, BackupRecord, BackupRecord, BackupRecord];

    const dryRun = await runCli(['prune', deployment.id, '--keep', '1', '--daily', '2', '--dry-run']);
    expect(dryRun.code, dryRun.output).toBe(0);
    expect(dryRun.stdout).toContain('policy: keep-last 1, daily 2 (periods in UTC)');
    expect(dryRun.stdout).toContain(
      `  keep    ${fourth.startedAt.toISOString()}  SUCCEEDED  ${fourth.id}  newest, keep-last, daily\n`,
    );
    expect(dryRun.stdout).toContain(`  keep    ${third.startedAt.toISOString()}  SUCCEEDED  ${third.id}  daily\n`);
    expect(dryRun.stdout).toContain(
      `  delete  ${second.startedAt.toISOString()}  SUCCEEDED  ${second.id}  kept by no rule  ${second.path}\n`,
    );
    expect(dryRun.stdout).toContain(
      'would prune 2 backup(s) and 0 failed record(s); 2 record(s) kept (dry run: nothing deleted)',
    );
    expect(await recordIds(deployment)).toHaveLength(4);

    const pin = await runCli(['pin', first.id]);
    expect(pin.code, pin.output).toBe(0);
    expect(pin.stdout).toBe(`pinned ${first.id}\n`);

    const prune = await runCli(['prune', deployment.id, '--keep', '1', '--daily', '2']);
    expect(prune.code, prune.output).toBe(0);
    expect(prune.stdout).toContain(`  keep    ${first.startedAt.toISOString()}  SUCCEEDED  ${first.id}  pinned\n`);
    expect(prune.stdout).toContain('pruned 1 backup(s) and 0 failed record(s); 3 record(s) kept\n');
    expect(await recordIds(deployment)).toEqual([first.id, third.id, fourth.id].sort());
    expect(await filesUnder(folderOf(harness.root, deployment))).toHaveLength(6);

    const unpin = await runCli(['unpin', first.id]);
    expect(unpin.stdout).toBe(`unpinned ${first.id}\n`);
    expect((await harness.db.prisma.backupRecord.findUniqueOrThrow({ where: { id: first.id } })).pinned).toBe(false);
  });

  it('stops a prune of most backups with exit code 4 and says why; --confirm goes ahead', async () => {
    const deployment = await createDeployment(harness.db.prisma, workspaceId, {
      name: `db-${randomBytes(4).toString('hex')}`,
      backupRetention: 10,
    });
    const backups: BackupRecord[] = [];
    for (let day = 0; day < 10; day += 1) backups.push(await seedBackup(deployment, day));
    const guardLine =
      'the retention guard stops this prune: it would delete 9 of the 10 successful backups, more than half of them';

    const dryRun = await runCli(['prune', deployment.id, '--keep', '1', '--dry-run']);
    expect(dryRun.code, dryRun.output).toBe(0);
    expect(dryRun.stdout).toContain(`${guardLine}; nothing is deleted without --confirm`);

    const stopped = await runCli(['prune', deployment.id, '--keep', '1']);
    expect(stopped.code, stopped.output).toBe(4);
    expect(stopped.stdout).toContain(
      'would prune 9 backup(s) and 0 failed record(s); 1 record(s) kept (nothing deleted)',
    );
    expect(await recordIds(deployment)).toHaveLength(10);

    const confirmed = await runCli(['prune', deployment.id, '--keep', '1', '--confirm']);
    expect(confirmed.code, confirmed.output).toBe(0);
    expect(confirmed.stdout).toContain(`${guardLine}; confirmed, so it ran`);
    expect(await recordIds(deployment)).toEqual([backups[9]!.id]);
  });

  it('reindex rebuilds a record from its manifest into an empty platform database, then finds it known', async () => {
    const empty = await createTestDatabase();
    try {
      const manifestWorkspace = 'cmreindexworkspace0001';
      const recordId = 'cmreindexrecord00000001';
      const startedAt = new Date(T0.getTime() + 40 * DAY_MS);
      const writer = await harness.deps.store.open({
        workspaceId: manifestWorkspace,
        deploymentName: 'lost-db',
        extension: 'dump',
        compressed: true,
        startedAt,
      });
      writer.stream.write(randomBytes(1024));
      const stored = await writer.commit(async (file) => ({
        manifestVersion: 1,
        recordId,
        workspaceId: manifestWorkspace,
        workspaceSlug: 'lost-workspace',
        deploymentId: 'cmreindexdeployment001',
        deploymentName: 'lost-db',
        namespace: 'apps',
        recipeSlug: 'postgresql',
        format: 'postgres-custom',
        fileName: file.fileName,
        extension: file.extension,
        compression: 'none',
        encryptionRecipient: null,
        sizeBytes: file.sizeBytes.toString(),
        rawBytes: file.sizeBytes.toString(),
        sha256: file.sha256,
        engineVersion: null,
        trigger: 'SCHEDULE',
        startedAt: startedAt.toISOString(),
        finishedAt: new Date(startedAt.getTime() + 1_000).toISOString(),
        suspicious: false,
        suspiciousReason: null,
      }));
      const reindex = (url: string) =>
        runCliWith(['reindex'], {
          DATABASE_URL: url,
          KUBECONFIG: harness.kube.kubeconfigPath,
          BACKUP_ROOT: harness.root,
        });

      const first = await reindex(empty.url);
      expect(first.stdout).toContain(`restored ${recordId}  ${stored.path}\n`);
      expect(first.stdout).toContain(
        '1 record(s) restored, 0 already known, 1 workspace(s) and 1 deployment(s) created',
      );
      expect(await empty.prisma.backupRecord.findUniqueOrThrow({ where: { id: recordId } })).toMatchObject({
        status: 'SUCCEEDED',
        sha256: stored.sha256,
        sizeBytes: stored.sizeBytes,
        path: stored.path,
      });
      const again = await reindex(empty.url);
      expect(again.stdout).toContain('0 record(s) restored, 1 already known');
    } finally {
      await empty.drop();
    }
  });

  it('refuses bad values with exit code 2, naming the flag or the column, and deletes nothing', async () => {
    const deployment = await createDeployment(harness.db.prisma, workspaceId, {
      name: `db-${randomBytes(4).toString('hex')}`,
      backupRetention: 1,
      retentionMonthly: -1,
    });
    await seedBackup(deployment, 0);
    await seedBackup(deployment, 1);
    const before = await recordIds(deployment);

    const [negative, fraction, badColumn, pinFailed] = await Promise.all([
      runCli(['prune', deployment.id, '--daily=-1']),
      runCli(['prune', deployment.id, '--max-age-days', '1.5']),
      runCli(['prune', deployment.id]),
      runCli(['pin', 'nosuchbackup']),
    ]);

    expect(negative.code).toBe(2);
    expect(negative.output).toContain('backup: --daily must be 0 or more (0 turns the day rule off) (got -1)');
    expect(fraction.code).toBe(2);
    expect(fraction.output).toContain('backup: --max-age-days must be a whole number (got "1.5")');
    expect(badColumn.code).toBe(2);
    expect(badColumn.output).toContain(
      'backup: retention: retentionMonthly must be 0 or more (0 turns the month rule off) (got -1)',
    );
    expect(pinFailed.code).toBe(1);
    expect(pinFailed.stdout).toBe('backup "nosuchbackup" not found\n');
    expect(await recordIds(deployment)).toEqual(before);
  });
});
