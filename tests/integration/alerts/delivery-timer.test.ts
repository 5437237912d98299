import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { raiseAlert } from '../../../src/lib/alerts/alerts.ts';
import type { AlertDeliveryDependencies } from '../../../src/lib/alerts/deliver-alerts.ts';
import { type AlertDeliveryTimer, startAlertDeliveryTimer } from '../../../src/lib/alerts/delivery-timer.ts';
import { createLogger } from '../../../src/lib/shared/logger.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';
import { createTestDatabase, type TestDatabase } from '../../support/test-database.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../../support/webhook-receiver.ts';

/**
 * The worker's background sender on the real clock, the real PostgreSQL and a local receiver: it sends on its own
 * timer, a pass ends even while the receiver fails (what fails comes due again only for a later pass), and stopping it
 * hands a POST in flight back instead of waiting for it.
 */
const DELIVERIES = 25;
const BATCH_SIZE = 10;
/** Short, so that the timer ticks during the test; nothing is asserted about time. */
const INTERVAL_MS = 50;
/** Retries come due almost at once: only the pass boundary keeps a pass from retrying them. */
const IMMEDIATE_RETRY = { baseDelayMs: 1, maxDelayMs: 1, maxAttempts: 100, maxAgeMs: 3_600_000 };
/** How long to wait for the timer's deliveries on a loaded machine. */
const WAIT_MS = 20_000;
/** Longer than any test: the timer does not tick by itself. */
const NEVER_MS = 3_600_000;

let db: TestDatabase;
let receiver: WebhookReceiver | undefined;
let timer: AlertDeliveryTimer | undefined;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});
afterEach(async () => {
  await timer?.stop();
  timer = undefined;
  receiver?.resume();
  await receiver?.close();
  receiver = undefined;
});

/** Opens `count` alerts with their deliveries, due now; returns the delivery ids. */
async function openAlerts(count: number): Promise<string[]> {
  const workspace = await createWorkspace(db.prisma);
  const ids: string[] = [];
  for (let index = 0; index < count; index += 1) {
    const deployment = await createDeployment(db.prisma, workspace.id);
    const raised = await raiseAlert(
      db.prisma,
      {
        workspaceId: workspace.id,
        deploymentId: deployment.id,
        severity: 'CRITICAL',
        kind: 'backup_overdue',
        message: `Backup of ${deployment.name} is overdue`,
      },
      new Date(),
      { deploymentName: deployment.name },
    );
    ids.push(raised.deliveryId!);
  }
  return ids;
}

function dependencies(url: string): AlertDeliveryDependencies {
  return { db: db.prisma, url, clock: () => new Date(), logger: createLogger({ level: 'silent' }) };
}

describe('startAlertDeliveryTimer', () => {
  it('sends due deliveries on its own timer', async () => {
    receiver = await startWebhookReceiver();
    const ids = await openAlerts(3);
    timer = startAlertDeliveryTimer(dependencies(receiver.url), INTERVAL_MS);
    await vi.waitFor(
      async () =>
        expect(await db.prisma.alertDelivery.count({ where: { id: { in: ids }, status: 'DELIVERED' } })).toBe(
          ids.length,
        ),
      { timeout: WAIT_MS, interval: INTERVAL_MS },
    );
    await timer.stop();
    expect(receiver.posts.map((post) => post.deliveryId).sort()).toEqual([...ids].sort());
  });

  it('ends a pass over what was due when it started, batch after batch, while the receiver keeps failing', async () => {
    receiver = await startWebhookReceiver(500);
    const ids = await openAlerts(DELIVERIES);
    timer = startAlertDeliveryTimer(dependencies(receiver.url), NEVER_MS, {
      batchSize: BATCH_SIZE,
      retryPolicy: IMMEDIATE_RETRY,
    });
    await timer.deliverNow();
    const rows = await db.prisma.alertDelivery.findMany({ where: { id: { in: ids } } });
    expect(rows.map((row) => [row.status, row.attempts])).toEqual(ids.map(() => ['PENDING', 1]));
    expect(receiver.posts.filter((post) => ids.includes(post.deliveryId!))).toHaveLength(DELIVERIES);
  });

  it('stops without waiting for a receiver that does not answer, handing the delivery back', async () => {
    receiver = await startWebhookReceiver();
    receiver.pause();
    const [id] = await openAlerts(1);
    timer = startAlertDeliveryTimer(dependencies(receiver.url), NEVER_MS);
    const pass = timer.deliverNow();
    await receiver.waitForPosts(1);
    const stoppedAt = new Date();
    await timer.stop();
    await pass;
    const row = await db.prisma.alertDelivery.findUniqueOrThrow({ where: { id: id! } });
    expect(row).toMatchObject({ status: 'PENDING', attempts: 1 });
    expect(row.nextAttemptAt.getTime()).toBeLessThanOrEqual(Date.now());
    expect(row.nextAttemptAt.getTime()).toBeGreaterThanOrEqual(stoppedAt.getTime() - 1);
  });
});
