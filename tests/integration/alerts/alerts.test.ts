import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../../../src/generated/prisma/client.ts';
import { raiseAlert, raiseAndNotify, resolveAlerts } from '../../../src/lib/alerts/alerts.ts';
import { deliverPendingAlerts } from '../../../src/lib/alerts/deliver-alerts.ts';
import { createWebhookNotifier } from '../../../src/lib/alerts/notifier.ts';
import { createLogger } from '../../../src/lib/shared/logger.ts';
import { claimDeployment, releaseClaim, renewClaim } from '../../../src/lib/backups/claims.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';
import { createTestDatabase, type TestDatabase } from '../../support/test-database.ts';
import { startWebhookReceiver } from '../../support/webhook-receiver.ts';

const T0 = new Date('2026-03-01T03:00:00Z');
const TTL_MS = 5 * 60_000;
/** Workers raising the same alert at the same moment, each on a connection of its own. */
const CONCURRENT_WRITERS = 20;
let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

describe('backup claims', () => {
  it('lets exactly one of many concurrent claimers win', async () => {
    const workspace = await createWorkspace(db.prisma);
    const deployment = await createDeployment(db.prisma, workspace.id);
    const tokens = Array.from({ length: 8 }, () => randomUUID());
    const results = await Promise.all(
      tokens.map((token) => claimDeployment(db.prisma, { deploymentId: deployment.id, token, now: T0, ttlMs: TTL_MS })),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    const holder = tokens[results.indexOf(true)];
    const row = await db.prisma.deployment.findUniqueOrThrow({ where: { id: deployment.id } });
    expect(row.backupClaimToken).toBe(holder);
    expect(row.backupClaimExpiresAt).toEqual(new Date(T0.getTime() + TTL_MS));
  });

  it('hands over an expired claim, and the old holder can no longer renew or release it', async () => {
    const workspace = await createWorkspace(db.prisma);
    const deployment = await createDeployment(db.prisma, workspace.id);
    const crashed = { deploymentId: deployment.id, token: 'crashed-worker', ttlMs: TTL_MS };
    expect(await claimDeployment(db.prisma, { ...crashed, now: T0 })).toBe(true);
    const later = new Date(T0.getTime() + TTL_MS - 1);
    expect(
      await claimDeployment(db.prisma, { deploymentId: deployment.id, token: 'other', now: later, ttlMs: TTL_MS }),
    ).toBe(false);
    const expired = new Date(T0.getTime() + TTL_MS);
    expect(
      await claimDeployment(db.prisma, { deploymentId: deployment.id, token: 'other', now: expired, ttlMs: TTL_MS }),
    ).toBe(true);
    expect(await renewClaim(db.prisma, { ...crashed, now: expired })).toBe(false);
    await releaseClaim(db.prisma, crashed);
    const row = await db.prisma.deployment.findUniqueOrThrow({ where: { id: deployment.id } });
    expect(row.backupClaimToken).toBe('other');
  });

  it('renews and releases a claim it holds', async () => {
    const workspace = await createWorkspace(db.prisma);
    const deployment = await createDeployment(db.prisma, workspace.id);
    const claim = { deploymentId: deployment.id, token: 'me', ttlMs: TTL_MS };
    await claimDeployment(db.prisma, { ...claim, now: T0 });
    const renewedAt = new Date(T0.getTime() + 60_000);
    expect(await renewClaim(db.prisma, { ...claim, now: renewedAt })).toBe(true);
    expect(
      (await db.prisma.deployment.findUniqueOrThrow({ where: { id: deployment.id } })).backupClaimExpiresAt,
    ).toEqual(new Date(renewedAt.getTime() + TTL_MS));
    await releaseClaim(db.prisma, claim);
    expect(
      await claimDeployment(db.prisma, { deploymentId: deployment.id, token: 'next', now: renewedAt, ttlMs: TTL_MS }),
    ).toBe(true);
  });
});

describe('alerts', () => {
  it('keeps one open alert per deployment and kind, counting repeats, until resolved', async () => {
    const workspace = await createWorkspace(db.prisma);
    const deployment = await createDeployment(db.prisma, workspace.id);
    const alert = {
      workspaceId: workspace.id,
      deploymentId: deployment.id,
      severity: 'CRITICAL' as const,
      kind: 'backup_failed',
      message: 'first',
    };
    const first = await raiseAlert(db.prisma, alert, T0);
    const second = await raiseAlert(db.prisma, { ...alert, message: 'second' }, new Date(T0.getTime() + 60_000));
    expect(second.id).toBe(first.id);
    expect(second.occurrences).toBe(2);
    const other = await raiseAlert(db.prisma, { ...alert, kind: 'backup_overdue' }, T0);
    expect(other.id).not.toBe(first.id);

    expect(await resolveAlerts(db.prisma, deployment.id, ['backup_failed'], new Date(T0.getTime() + 120_000))).toBe(1);
    const open = await db.prisma.alert.findMany({ where: { deploymentId: deployment.id, resolvedAt: null } });
    expect(open.map((a) => a.kind)).toEqual(['backup_overdue']);
    const reopened = await raiseAlert(db.prisma, alert, new Date(T0.getTime() + 180_000));
    expect(reopened.id).not.toBe(first.id);
    expect(reopened.occurrences).toBe(1);
  });

  it('opens one alert when many workers raise it at once on separate connections, and pages once', async () => {
    const workspace = await createWorkspace(db.prisma);
    const deployment = await createDeployment(db.prisma, workspace.id);
    const receiver = await startWebhookReceiver();
    const clients = Array.from(
      { length: CONCURRENT_WRITERS },
      () => new PrismaClient({ adapter: new PrismaPg({ connectionString: db.url }) }),
    );
    try {
      // Connected beforehand, so that the raises race instead of queueing behind connection set-up.
      await Promise.all(clients.map((client) => client.$queryRaw`SELECT 1`));
      const logger = createLogger({ level: 'silent' });
      const delivery = { url: receiver.url, clock: () => T0, logger };
      const raised = await Promise.all(
        clients.map((client, index) =>
          raiseAndNotify(
            client,
            createWebhookNotifier({ db: client, ...delivery }),
            {
              workspaceId: workspace.id,
              deploymentId: deployment.id,
              deploymentName: deployment.name,
              severity: 'CRITICAL',
              kind: 'backup_failed',
              message: `failure seen by worker ${index}`,
            },
            T0,
          ),
        ),
      );

      expect(raised.filter((alert) => alert.opened)).toHaveLength(1);
      expect(new Set(raised.map((alert) => alert.id)).size).toBe(1);
      expect(raised.map((alert) => alert.occurrences).sort((a, b) => a - b)).toEqual(
        Array.from({ length: CONCURRENT_WRITERS }, (_, index) => index + 1),
      );
      const alerts = await db.prisma.alert.findMany({ where: { deploymentId: deployment.id } });
      expect(alerts).toEqual([
        expect.objectContaining({ id: raised[0]!.id, occurrences: CONCURRENT_WRITERS, resolvedAt: null }),
      ]);
      const deliveries = await db.prisma.alertDelivery.findMany({ where: { alertId: alerts[0]!.id } });
      expect(deliveries).toHaveLength(1);
      expect(raised.flatMap((alert) => (alert.deliveryId ? [alert.deliveryId] : []))).toEqual([deliveries[0]!.id]);

      // Every worker drains the outbox at once: the alert reaches the webhook once.
      const summaries = await Promise.all(
        clients.map((client) => deliverPendingAlerts({ db: client, ...delivery }, T0)),
      );
      expect(summaries.reduce((sum, summary) => sum + summary.delivered, 0)).toBe(1);
      expect(receiver.arrived()).toHaveLength(1);
      expect(JSON.parse(receiver.arrived()[0]!)).toMatchObject({ alertId: alerts[0]!.id, kind: 'backup_failed' });
    } finally {
      await Promise.all(clients.map((client) => client.$disconnect()));
      await receiver.close();
    }
  });
});
