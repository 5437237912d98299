import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { leaseDueDeliveries } from '../../../src/lib/alerts/alert-deliveries.ts';
import { applyAlertStates } from '../../../src/lib/alerts/alert-states.ts';
import { raiseAndNotify } from '../../../src/lib/alerts/alerts.ts';
import { createWebhookNotifier } from '../../../src/lib/alerts/notifier.ts';
import { openDatabase } from '../../../src/lib/db/database.ts';
import { readMigrations } from '../../../src/lib/db/migrations.ts';
import { createLogger } from '../../../src/lib/shared/logger.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('embedded default database (no DATABASE_URL)', () => {
  it('creates, migrates and persists a PGlite database in the data folder', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'embedded-db-'));
    dirs.push(dir);
    const logger = createLogger({ level: 'silent' });
    const names = (await readMigrations()).map((m) => m.name);

    const first = await openDatabase({ embeddedDir: dir, logger });
    expect(first.kind).toBe('embedded');
    expect(first.migrations.applied).toEqual(names);
    const workspace = await createWorkspace(first.prisma);
    await createDeployment(first.prisma, workspace.id, { name: 'pg-main', backupSchedule: '0 3 * * *' });
    await first.close();

    const second = await openDatabase({ embeddedDir: dir, logger });
    expect(second.migrations).toEqual({ applied: [], alreadyApplied: names });
    const deployment = await second.prisma.deployment.findFirstOrThrow({ where: { name: 'pg-main' } });
    expect(deployment.backupSchedule).toBe('0 3 * * *');
    const duplicate = await createDeployment(second.prisma, workspace.id, { name: 'pg-main' }).catch((e: unknown) => e);
    expect((duplicate as { code?: string }).code).toBe('P2002');
    await second.close();
  });

  it("runs the alerts' hand-written SQL: insert-on-conflict, batched states with their deliveries, the lease", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'embedded-db-'));
    dirs.push(dir);
    const logger = createLogger({ level: 'silent' });
    const database = await openDatabase({ embeddedDir: dir, logger });
    try {
      const db = database.prisma;
      const now = new Date('2026-12-02T03:00:00.000Z');
      const notifier = createWebhookNotifier({ db, url: 'http://127.0.0.1:9/unused', clock: () => now, logger });
      const workspace = await createWorkspace(db);
      const deployment = await createDeployment(db, workspace.id);
      const alert = {
        workspaceId: workspace.id,
        deploymentId: deployment.id,
        deploymentName: deployment.name,
        severity: 'CRITICAL' as const,
        kind: 'backup_failed',
        message: 'failed',
      };
      const first = await raiseAndNotify(db, notifier, alert, now);
      expect(await raiseAndNotify(db, notifier, alert, now)).toEqual({
        id: first.id,
        occurrences: 2,
        opened: false,
        deliveryId: null,
      });
      expect(
        await applyAlertStates(db, notifier, [{ open: true, alert: { ...alert, kind: 'backup_overdue' } }], now),
      ).toEqual({ opened: 1, resolved: 0 });
      expect(
        await applyAlertStates(
          db,
          notifier,
          [{ open: false, deploymentId: deployment.id, kind: 'backup_overdue' }],
          now,
        ),
      ).toEqual({ opened: 0, resolved: 1 });
      const leased = await leaseDueDeliveries(db, now, new Date(now.getTime() + 60_000), { limit: 10 });
      expect(leased.map((delivery) => delivery.attempts)).toEqual([1, 1]);
      expect(await leaseDueDeliveries(db, now, now, { limit: 10 })).toEqual([]);
    } finally {
      await database.close();
    }
  });
});
