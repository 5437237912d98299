import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Prisma } from '../../../src/generated/prisma/client.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';
import { createTestDatabase, type TestDatabase } from '../../support/test-database.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

function prismaCode(error: unknown): string | undefined {
  return error instanceof Prisma.PrismaClientKnownRequestError ? error.code : undefined;
}

describe('data model constraints on the real database', () => {
  it('applies the documented defaults to a new deployment', async () => {
    const workspace = await createWorkspace(db.prisma);
    const deployment = await db.prisma.deployment.create({
      data: { workspaceId: workspace.id, name: 'pg-main', recipeSlug: 'postgresql', namespace: 'apps' },
    });
    expect(deployment).toMatchObject({
      status: 'PENDING',
      backupEnabled: false,
      backupSchedule: null,
      backupTimezone: 'UTC',
      backupRetention: 10,
      lastBackupAt: null,
      podSelector: null,
      backupClaimToken: null,
    });
  });

  it('keeps deployment names unique per workspace, not across workspaces', async () => {
    const a = await createWorkspace(db.prisma);
    const b = await createWorkspace(db.prisma);
    await createDeployment(db.prisma, a.id, { name: 'shared-name' });
    await expect(createDeployment(db.prisma, b.id, { name: 'shared-name' })).resolves.toBeDefined();
    const duplicate = await createDeployment(db.prisma, a.id, { name: 'shared-name' }).catch((error: unknown) => error);
    expect(prismaCode(duplicate)).toBe('P2002');
  });

  it('keeps workspace slugs unique', async () => {
    await createWorkspace(db.prisma, { slug: 'acme' });
    expect(prismaCode(await createWorkspace(db.prisma, { slug: 'acme' }).catch((error: unknown) => error))).toBe(
      'P2002',
    );
  });

  it('refuses to delete a deployment that still has backup records (backups are never lost by a cascade)', async () => {
    const workspace = await createWorkspace(db.prisma);
    const deployment = await createDeployment(db.prisma, workspace.id);
    await db.prisma.backupRecord.create({
      data: {
        deploymentId: deployment.id,
        workspaceId: workspace.id,
        trigger: 'MANUAL',
        status: 'SUCCEEDED',
        sizeBytes: 5_000_000_000n,
      },
    });
    const error = await db.prisma.deployment
      .delete({ where: { id: deployment.id } })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Error);
    expect(await db.prisma.deployment.count({ where: { id: deployment.id } })).toBe(1);
    expect(await db.prisma.backupRecord.count({ where: { deploymentId: deployment.id } })).toBe(1);
  });

  it('refuses to delete a workspace that still has deployments', async () => {
    const workspace = await createWorkspace(db.prisma);
    await createDeployment(db.prisma, workspace.id);
    await expect(db.prisma.workspace.delete({ where: { id: workspace.id } })).rejects.toBeInstanceOf(Error);
    expect(await db.prisma.workspace.count({ where: { id: workspace.id } })).toBe(1);
  });

  it("deletes a deployment's alerts with it, and detaches alerts from a deleted backup record", async () => {
    const workspace = await createWorkspace(db.prisma);
    const deployment = await createDeployment(db.prisma, workspace.id);
    await db.prisma.alert.create({
      data: {
        workspaceId: workspace.id,
        deploymentId: deployment.id,
        severity: 'CRITICAL',
        kind: 'backup_failed',
        message: 'x',
      },
    });
    await db.prisma.deployment.delete({ where: { id: deployment.id } });
    expect(await db.prisma.alert.count({ where: { deploymentId: deployment.id } })).toBe(0);

    const other = await createDeployment(db.prisma, workspace.id);
    const record = await db.prisma.backupRecord.create({
      data: { deploymentId: other.id, workspaceId: workspace.id, trigger: 'SCHEDULE', status: 'FAILED' },
    });
    const alert = await db.prisma.alert.create({
      data: {
        workspaceId: workspace.id,
        deploymentId: other.id,
        backupRecordId: record.id,
        severity: 'CRITICAL',
        kind: 'backup_failed',
        message: 'y',
      },
    });
    await db.prisma.backupRecord.delete({ where: { id: record.id } });
    expect((await db.prisma.alert.findUniqueOrThrow({ where: { id: alert.id } })).backupRecordId).toBeNull();
  });

  it('stores sizes beyond 2^53 exactly (BigInt)', async () => {
    const workspace = await createWorkspace(db.prisma);
    const deployment = await createDeployment(db.prisma, workspace.id);
    const huge = 2n ** 60n + 7n;
    const record = await db.prisma.backupRecord.create({
      data: { deploymentId: deployment.id, workspaceId: workspace.id, trigger: 'API', sizeBytes: huge },
    });
    expect((await db.prisma.backupRecord.findUniqueOrThrow({ where: { id: record.id } })).sizeBytes).toBe(huge);
  });

  it('has the indexes the history and latest-per-deployment queries use', async () => {
    const indexes = await db.prisma.$queryRaw<{ indexdef: string }[]>`
      SELECT indexdef FROM pg_indexes WHERE tablename = 'BackupRecord'`;
    const definitions = indexes.map((index) => index.indexdef).join('\n');
    expect(definitions).toContain('("deploymentId", "startedAt" DESC)');
    expect(definitions).toContain('("deploymentId", status, "finishedAt" DESC)');
  });
});
