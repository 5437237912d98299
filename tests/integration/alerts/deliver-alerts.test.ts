import { Writable } from 'node:stream';
import { PrismaPg } from '@prisma/adapter-pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PrismaClient } from '../../../src/generated/prisma/client.ts';
import { leaseDueDeliveries } from '../../../src/lib/alerts/alert-deliveries.ts';
import { raiseAlert } from '../../../src/lib/alerts/alerts.ts';
import {
  type AlertDeliveryDependencies,
  deliverPendingAlerts,
  type DeliveryOptions,
} from '../../../src/lib/alerts/deliver-alerts.ts';
import type { DeliveryRetryPolicy } from '../../../src/lib/alerts/delivery-plan.ts';
import { createLogger } from '../../../src/lib/shared/logger.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';
import { createTestDatabase, type TestDatabase } from '../../support/test-database.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../../support/webhook-receiver.ts';

/**
 * The outbox's sender against the real PostgreSQL and a local HTTP receiver: what it POSTs, how it retries and gives
 * up, that a leased delivery is never sent by two senders at once, and that the URL (which may carry a token) appears
 * in no log line and no stored error. Time is an argument: each call says what "now" is.
 */
const T0 = new Date('2026-12-02T03:00:00.000Z');
const SECOND = 1_000;
const HOUR = 3_600 * SECOND;
const SECRET_PATH = '/hooks/T0KEN-s3cret-path';
const POLICY: DeliveryRetryPolicy = {
  baseDelayMs: 10 * SECOND,
  maxDelayMs: 60 * SECOND,
  maxAttempts: 4,
  maxAgeMs: HOUR,
};
/** Past the lease a sender takes (POST timeout 10 s + 30 s margin). */
const AFTER_LEASE_MS = 41 * SECOND;

let db: TestDatabase;
let receiver: WebhookReceiver | undefined;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});
afterEach(async () => {
  await receiver?.close();
  receiver = undefined;
});

const at = (ms: number) => new Date(T0.getTime() + ms);

function capturingLogger() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, callback) {
      lines.push(String(chunk));
      callback();
    },
  });
  return { logger: createLogger({ level: 'debug', destination }), output: () => lines.join('') };
}

/** A sender whose clock reads the "now" of its last call, so failures are timed when they happen. */
async function sender(url: string, prisma: PrismaClient = db.prisma) {
  const { logger, output } = capturingLogger();
  let now = T0;
  const deps: AlertDeliveryDependencies = { db: prisma, url, clock: () => now, logger };
  return {
    deps,
    output,
    deliverAt(time: Date, options: DeliveryOptions = {}) {
      now = time;
      return deliverPendingAlerts(deps, time, options);
    },
  };
}

/** Opens a new alert with its delivery, at T0 (the delivery is due at once). */
async function openAlertWithDelivery(message = 'Backup of demo/shop-db failed (ExecFailed): pg_dump exited 1') {
  const workspace = await createWorkspace(db.prisma);
  const deployment = await createDeployment(db.prisma, workspace.id, { name: 'shop-db' });
  const alert = await raiseAlert(
    db.prisma,
    {
      workspaceId: workspace.id,
      deploymentId: deployment.id,
      severity: 'CRITICAL',
      kind: 'backup_failed',
      message,
    },
    T0,
    { deploymentName: deployment.name },
  );
  return { workspace, deployment, alert, deliveryId: alert.deliveryId! };
}

function deliveryRow(id: string) {
  return db.prisma.alertDelivery.findUniqueOrThrow({ where: { id } });
}

describe('deliverPendingAlerts', () => {
  it('POSTs the alert as JSON with its delivery id, marks it delivered, and never sends it again', async () => {
    receiver = await startWebhookReceiver(200, SECRET_PATH);
    const { deliverAt } = await sender(receiver.url);
    const { workspace, deployment, alert, deliveryId } = await openAlertWithDelivery();

    expect(await deliverAt(T0, { ids: [deliveryId] })).toEqual({
      attempted: 1,
      delivered: 1,
      retrying: 0,
      failed: 0,
    });
    expect(receiver.posts).toEqual([
      {
        path: SECRET_PATH,
        contentType: 'application/json',
        deliveryId,
        idempotencyKey: deliveryId,
        status: 200,
        body: JSON.stringify({
          type: 'backup.alert',
          alertId: alert.id,
          severity: 'CRITICAL',
          kind: 'backup_failed',
          message: 'Backup of demo/shop-db failed (ExecFailed): pg_dump exited 1',
          workspaceId: workspace.id,
          deploymentId: deployment.id,
          deploymentName: 'shop-db',
          backupRecordId: null,
          occurredAt: T0.toISOString(),
        }),
      },
    ]);
    expect(await deliveryRow(deliveryId)).toMatchObject({ status: 'DELIVERED', attempts: 1, deliveredAt: T0 });

    expect(await deliverAt(at(HOUR), { ids: [deliveryId] })).toMatchObject({ attempted: 0 });
    expect(receiver.posts).toHaveLength(1);
  });

  it('retries 5xx, 429 and refused connections with backoff, and waits until the next attempt is due', async () => {
    receiver = await startWebhookReceiver(500, SECRET_PATH);
    const { deliverAt, output } = await sender(receiver.url);
    const { deliveryId } = await openAlertWithDelivery();
    const options = { ids: [deliveryId], retryPolicy: POLICY };

    expect(await deliverAt(T0, options)).toMatchObject({ attempted: 1, retrying: 1 });
    expect(await deliveryRow(deliveryId)).toMatchObject({
      status: 'PENDING',
      attempts: 1,
      nextAttemptAt: at(10 * SECOND),
      lastError: 'HTTP 500',
    });
    expect(await deliverAt(at(10 * SECOND - 1), options)).toMatchObject({ attempted: 0 });

    receiver.setStatus(429);
    expect(await deliverAt(at(10 * SECOND), options)).toMatchObject({ attempted: 1, retrying: 1 });
    expect(await deliveryRow(deliveryId)).toMatchObject({ attempts: 2, nextAttemptAt: at(30 * SECOND) });

    // Nothing listens any more: the connection is refused.
    const closedUrl = receiver.url;
    await receiver.close();
    receiver = undefined;
    const refused = await sender(closedUrl);
    expect(await refused.deliverAt(at(30 * SECOND), options)).toMatchObject({ retrying: 1 });
    const row = await deliveryRow(deliveryId);
    expect(row).toMatchObject({ attempts: 3, nextAttemptAt: at(70 * SECOND) });
    expect(row.lastError).toMatch(/fetch failed.*ECONNREFUSED/);

    receiver = await startWebhookReceiver(200, SECRET_PATH);
    const up = await sender(receiver.url);
    expect(await up.deliverAt(at(70 * SECOND), options)).toMatchObject({ delivered: 1 });
    expect(await deliveryRow(deliveryId)).toMatchObject({ status: 'DELIVERED', attempts: 4, lastError: null });
    expect(output()).toContain('alert webhook delivery failed; retrying');
    for (const log of [output(), refused.output(), up.output()]) expect(log).not.toContain('s3cret');
  });

  it('gives up after the last attempt, records why and logs it, without the URL', async () => {
    receiver = await startWebhookReceiver(503, SECRET_PATH);
    const { deliverAt, output } = await sender(receiver.url);
    const { deliveryId } = await openAlertWithDelivery();
    const options = { ids: [deliveryId], retryPolicy: { ...POLICY, maxAttempts: 2 } };

    await deliverAt(T0, options);
    expect(await deliverAt(at(10 * SECOND), options)).toMatchObject({ failed: 1 });
    const row = await deliveryRow(deliveryId);
    expect(row).toMatchObject({ status: 'FAILED', attempts: 2, lastError: 'HTTP 503 (gave up after 2 attempt(s))' });
    expect(output()).toContain('could not deliver the alert to the webhook; giving up');
    expect(output()).not.toContain('s3cret');
    expect(await deliverAt(at(HOUR), options)).toMatchObject({ attempted: 0 });
    expect(receiver.posts).toHaveLength(2);
  });

  it('gives up once the alert is older than the maximum age', async () => {
    receiver = await startWebhookReceiver(500, SECRET_PATH);
    const { deliverAt } = await sender(receiver.url);
    const { deliveryId } = await openAlertWithDelivery();
    // First attempt long after the alert opened (the workers were down): it is still made once.
    const late = at(HOUR - 5 * SECOND);
    expect(await deliverAt(late, { ids: [deliveryId], retryPolicy: POLICY })).toMatchObject({
      failed: 1,
    });
    expect((await deliveryRow(deliveryId)).lastError).toBe(
      'HTTP 500 (gave up after 1 attempt(s): the alert is more than 1 h old)',
    );
  });

  it('does not retry a 4xx refusal', async () => {
    receiver = await startWebhookReceiver(400, SECRET_PATH);
    const { deliverAt, output } = await sender(receiver.url);
    const { deliveryId } = await openAlertWithDelivery();
    expect(await deliverAt(T0, { ids: [deliveryId] })).toMatchObject({ failed: 1 });
    expect(await deliveryRow(deliveryId)).toMatchObject({
      status: 'FAILED',
      lastError: 'HTTP 400 (refused by the webhook)',
    });
    expect(output()).toContain('the webhook refused the alert; not retrying');
  });

  it('never lets two senders POST the same delivery: a leased row is skipped until its lease runs out', async () => {
    receiver = await startWebhookReceiver(200, SECRET_PATH);
    const opened = await Promise.all([1, 2, 3].map(() => openAlertWithDelivery()));
    const ids = opened.map((item) => item.deliveryId);
    const other = new PrismaClient({ adapter: new PrismaPg({ connectionString: db.url }) });
    try {
      const first = await sender(receiver.url);
      const second = await sender(receiver.url, other);
      receiver.pause();
      const firstPass = first.deliverAt(T0, { ids });
      await receiver.waitForPosts(ids.length);
      // Every row is leased and its POST is in flight: a second sender, on its own connection, finds nothing due.
      expect(await second.deliverAt(T0, { ids })).toMatchObject({ attempted: 0 });
      receiver.resume();
      expect(await firstPass).toMatchObject({ attempted: 3, delivered: 3 });
      expect(receiver.posts.map((post) => post.deliveryId).sort()).toEqual([...ids].sort());
    } finally {
      await other.$disconnect();
    }
  });

  it("sends a crashed sender's delivery again after its lease, with the same delivery id", async () => {
    receiver = await startWebhookReceiver(200, SECRET_PATH);
    const { deliverAt } = await sender(receiver.url);
    const { deliveryId } = await openAlertWithDelivery();
    // A sender leased it and died before it could POST or record anything.
    expect(
      await leaseDueDeliveries(db.prisma, T0, at(AFTER_LEASE_MS - SECOND), { limit: 1, ids: [deliveryId] }),
    ).toHaveLength(1);
    expect(await deliverAt(at(SECOND), { ids: [deliveryId] })).toMatchObject({ attempted: 0 });
    expect(await deliverAt(at(AFTER_LEASE_MS), { ids: [deliveryId] })).toMatchObject({
      delivered: 1,
    });
    expect(receiver.posts.map((post) => post.idempotencyKey)).toEqual([deliveryId]);
    expect(await deliveryRow(deliveryId)).toMatchObject({ status: 'DELIVERED', attempts: 2 });
  });

  it('hands deliveries back, due at once, when it is stopped mid-POST', async () => {
    receiver = await startWebhookReceiver(200, SECRET_PATH);
    const { deliverAt } = await sender(receiver.url);
    const { deliveryId } = await openAlertWithDelivery();
    receiver.pause();
    const stop = new AbortController();
    const pass = deliverAt(T0, { ids: [deliveryId], signal: stop.signal });
    await receiver.waitForPosts(1);
    stop.abort();
    expect(await pass).toMatchObject({ attempted: 1, delivered: 0, retrying: 0, failed: 0 });
    receiver.resume();
    expect(await deliveryRow(deliveryId)).toMatchObject({ status: 'PENDING', nextAttemptAt: T0 });
  });
});
