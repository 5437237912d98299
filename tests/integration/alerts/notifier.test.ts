import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { raiseAndNotify } from '../../../src/lib/alerts/alerts.ts';
import { createWebhookNotifier, noopNotifier, type Notifier } from '../../../src/lib/alerts/notifier.ts';
import { createLogger } from '../../../src/lib/shared/logger.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';
import { createTestDatabase, type TestDatabase } from '../../support/test-database.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../../support/webhook-receiver.ts';

/**
 * The notifier the alert-raising code sees: with a webhook, a new alert's delivery row is written with it and `flush`
 * (what a CLI calls before it exits) sends the rows this process queued; without one, no row is written.
 */
const T0 = new Date('2026-12-02T03:00:00.000Z');
/** Short enough for a test; a receiver that never answers must not hold `flush` longer. */
const FLUSH_TIMEOUT_MS = 500;

let db: TestDatabase;
let receiver: WebhookReceiver | undefined;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});
afterEach(async () => {
  receiver?.resume();
  await receiver?.close();
  receiver = undefined;
});

/** A backup_failed alert of a new deployment. */
async function failureAlert() {
  const workspace = await createWorkspace(db.prisma);
  const deployment = await createDeployment(db.prisma, workspace.id);
  return {
    workspaceId: workspace.id,
    deploymentId: deployment.id,
    deploymentName: deployment.name,
    severity: 'CRITICAL' as const,
    kind: 'backup_failed',
    message: `Backup of ${deployment.name} failed`,
  };
}

async function raiseFailure(notifier: Notifier) {
  return raiseAndNotify(db.prisma, notifier, await failureAlert(), T0);
}

function webhookNotifier(url: string) {
  return createWebhookNotifier({ db: db.prisma, url, clock: () => T0, logger: createLogger({ level: 'silent' }) });
}

describe('createWebhookNotifier', () => {
  it('flush sends the deliveries this process queued, and only those', async () => {
    receiver = await startWebhookReceiver();
    const mine = await raiseFailure(webhookNotifier(receiver.url));
    const someoneElses = await raiseFailure(webhookNotifier(receiver.url));
    const notifier = webhookNotifier(receiver.url);
    notifier.queued([mine.deliveryId!]);

    await notifier.flush(FLUSH_TIMEOUT_MS);

    expect(receiver.posts.map((post) => post.deliveryId)).toEqual([mine.deliveryId]);
    expect(await db.prisma.alertDelivery.findUniqueOrThrow({ where: { id: someoneElses.deliveryId! } })).toMatchObject({
      status: 'PENDING',
      attempts: 0,
    });
  });

  it('writes one delivery per new alert, none for another occurrence of an open one', async () => {
    receiver = await startWebhookReceiver();
    const notifier = webhookNotifier(receiver.url);
    const alert = await failureAlert();
    const first = await raiseAndNotify(db.prisma, notifier, alert, T0);
    const again = await raiseAndNotify(
      db.prisma,
      notifier,
      { ...alert, message: 'failed again' },
      new Date(T0.getTime() + 60_000),
    );
    expect(first).toMatchObject({ opened: true, occurrences: 1, deliveryId: expect.any(String) });
    expect(again).toEqual({ id: first.id, opened: false, occurrences: 2, deliveryId: null });
    expect(await db.prisma.alertDelivery.count({ where: { alertId: first.id } })).toBe(1);

    await notifier.flush(FLUSH_TIMEOUT_MS);
    expect(receiver.arrived()).toHaveLength(1);
  });

  it('flush gives up at its timeout when the receiver does not answer, and leaves the delivery due for the worker', async () => {
    receiver = await startWebhookReceiver();
    receiver.pause();
    const notifier = webhookNotifier(receiver.url);
    const raised = await raiseFailure(notifier);

    await notifier.flush(FLUSH_TIMEOUT_MS);

    expect(receiver.posts).toHaveLength(1);
    expect(await db.prisma.alertDelivery.findUniqueOrThrow({ where: { id: raised.deliveryId! } })).toMatchObject({
      status: 'PENDING',
      nextAttemptAt: T0,
    });
  });
});

describe('noopNotifier (no ALERT_WEBHOOK_URL)', () => {
  it('writes the alert and no delivery', async () => {
    const raised = await raiseFailure(noopNotifier);
    expect(raised).toMatchObject({ opened: true, deliveryId: null });
    expect(await db.prisma.alertDelivery.count({ where: { alertId: raised.id } })).toBe(0);
  });
});
