import { PrismaPg } from '@prisma/adapter-pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrismaClient } from '../../../src/generated/prisma/client.ts';
import { applyAlertStates, type WantedAlertState } from '../../../src/lib/alerts/alert-states.ts';
import { createWebhookNotifier, noopNotifier } from '../../../src/lib/alerts/notifier.ts';
import { createLogger } from '../../../src/lib/shared/logger.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';
import { createTestDatabase, type TestDatabase } from '../../support/test-database.ts';

/**
 * State alerts (overdue, blocked) for many deployments at once, as a cycle after a mass event applies them: every new
 * alert opened with its webhook delivery, the open ones left alone, the cleared ones resolved; and two workers applying
 * the same states at once still open each alert once.
 */
const T0 = new Date('2026-12-02T03:00:00.000Z');
const LATER = new Date('2026-12-02T03:01:00.000Z');
const DEPLOYMENTS = 50;

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

const notifierFor = (prisma: PrismaClient) =>
  createWebhookNotifier({
    db: prisma,
    url: 'http://127.0.0.1:9/unused',
    clock: () => T0,
    logger: createLogger({ level: 'silent' }),
  });

async function deployments(count: number) {
  const workspace = await createWorkspace(db.prisma);
  const created = [];
  for (let index = 0; index < count; index += 1) created.push(await createDeployment(db.prisma, workspace.id));
  return created;
}

function overdue(deployment: { id: string; workspaceId: string; name: string }, open: boolean): WantedAlertState {
  return open
    ? {
        open: true,
        alert: {
          workspaceId: deployment.workspaceId,
          deploymentId: deployment.id,
          deploymentName: deployment.name,
          severity: 'CRITICAL',
          kind: 'backup_overdue',
          message: `Backup of ${deployment.name} is overdue`,
        },
      }
    : { open: false, deploymentId: deployment.id, kind: 'backup_overdue' };
}

describe('applyAlertStates', () => {
  it('opens the new alerts with their deliveries, leaves open ones alone and resolves the cleared ones', async () => {
    const all = await deployments(DEPLOYMENTS);
    const notifier = notifierFor(db.prisma);

    expect(
      await applyAlertStates(
        db.prisma,
        notifier,
        all.map((deployment) => overdue(deployment, true)),
        T0,
      ),
    ).toEqual({ opened: DEPLOYMENTS, resolved: 0 });
    const ids = all.map((deployment) => deployment.id);
    const opened = await db.prisma.alert.findMany({
      where: { deploymentId: { in: ids } },
      include: { delivery: true },
    });
    expect(opened).toHaveLength(DEPLOYMENTS);
    for (const alert of opened) {
      expect(alert).toMatchObject({ kind: 'backup_overdue', occurrences: 1, createdAt: T0, resolvedAt: null });
      expect(alert.delivery).toMatchObject({ status: 'PENDING', nextAttemptAt: T0 });
      expect(alert.delivery!.payload).toEqual({
        alertId: alert.id,
        severity: 'CRITICAL',
        kind: 'backup_overdue',
        message: alert.message,
        workspaceId: alert.workspaceId,
        deploymentId: alert.deploymentId,
        deploymentName: all.find((deployment) => deployment.id === alert.deploymentId)!.name,
        backupRecordId: null,
        occurredAt: T0.toISOString(),
      });
    }

    // The next cycle: the first ten are backed up meanwhile, the rest still overdue.
    const next = all.map((deployment, index) => overdue(deployment, index >= 10));
    expect(await applyAlertStates(db.prisma, notifier, next, LATER)).toEqual({ opened: 0, resolved: 10 });
    const after = await db.prisma.alert.findMany({ where: { deploymentId: { in: ids } } });
    expect(after.filter((alert) => alert.resolvedAt !== null).map((alert) => alert.resolvedAt)).toEqual(
      Array.from({ length: 10 }, () => LATER),
    );
    expect(after.every((alert) => alert.occurrences === 1)).toBe(true);
    expect(await db.prisma.alertDelivery.count({ where: { alert: { deploymentId: { in: ids } } } })).toBe(DEPLOYMENTS);
    expect(await applyAlertStates(db.prisma, notifier, next, LATER)).toEqual({ opened: 0, resolved: 0 });
  });

  it('writes no delivery without a webhook', async () => {
    const [deployment] = await deployments(1);
    expect(await applyAlertStates(db.prisma, noopNotifier, [overdue(deployment!, true)], T0)).toEqual({
      opened: 1,
      resolved: 0,
    });
    expect(await db.prisma.alertDelivery.count({ where: { alert: { deploymentId: deployment!.id } } })).toBe(0);
  });

  it('opens each alert once when two workers apply the same states at once', async () => {
    const all = await deployments(DEPLOYMENTS);
    const states = all.map((deployment) => overdue(deployment, true));
    const clients = [1, 2].map(() => new PrismaClient({ adapter: new PrismaPg({ connectionString: db.url }) }));
    try {
      await Promise.all(clients.map((client) => client.$queryRaw`SELECT 1`));
      const results = await Promise.all(
        clients.map((client) => applyAlertStates(client, notifierFor(client), states, T0)),
      );
      expect(results.reduce((sum, result) => sum + result.opened, 0)).toBe(DEPLOYMENTS);
      const ids = all.map((deployment) => deployment.id);
      expect(await db.prisma.alert.count({ where: { deploymentId: { in: ids } } })).toBe(DEPLOYMENTS);
      expect(await db.prisma.alertDelivery.count({ where: { alert: { deploymentId: { in: ids } } } })).toBe(
        DEPLOYMENTS,
      );
    } finally {
      await Promise.all(clients.map((client) => client.$disconnect()));
    }
  });
});
