import { randomBytes } from 'node:crypto';
import { rm, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackupRecord, Deployment } from '../../../src/generated/prisma/client.ts';
import { DATA_SHRANK_ALERT, TEST_RESTORE_FAILED_ALERT } from '../../../src/lib/alerts/alerts.ts';
import { executeBackup } from '../../../src/lib/backups/backup.ts';
import { runOnce } from '../../../src/lib/worker/loop.ts';
import { runTestRestorePass } from '../../../src/lib/restore/test-restore-pass.ts';
import { formatSidecar, sidecarPathFor } from '../../../src/lib/storage/backup-path.ts';
import { hashFile } from '../../../src/lib/storage/verify-backup.ts';
import { podFor, startBackupHarness, type BackupHarness } from '../../support/backup-harness.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';
import { adminQuery, createDatabase, databaseUrl, dropDatabase, uniqueDatabaseName } from '../../support/postgres.ts';

// Scheduled test-restores with the real engine: real pg_dump backups of a real database, restored by the restore
// engine with the real pg_restore into scratch databases through the fake cluster, counted, dropped; the counts
// compared run to run. The clock is a variable: the weekly schedule fires when the test moves it past Sunday 03:00.

const ITEMS = 2_000;
const NOTES = 30;
const KEPT_ITEMS = 100;
const WEEKLY = '0 3 * * 0';
/** Sunday 2026-11-22, ten minutes after the weekly schedule fired. */
const SUNDAY = new Date('2026-11-22T03:10:00Z');
const HOUR = 3_600_000;
const WEEK = 7 * 24 * HOUR;

let harness: BackupHarness;
let now = SUNDAY;
let workspaceId: string;
const databases: string[] = [];

async function query(database: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl(database) });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

async function scratchDatabases(): Promise<string[]> {
  const { rows } = await adminQuery(`SELECT datname FROM pg_database WHERE datname LIKE 'ops_scratch_%' ORDER BY 1`);
  return rows.map((row: { datname: string }) => row.datname);
}

/** A live PostgreSQL database with two tables, its pod, and a RUNNING deployment with the weekly test-restore. */
async function postgresDeployment(fields: Partial<Deployment> = {}): Promise<{ deployment: Deployment; live: string }> {
  const live = await createDatabase(uniqueDatabaseName('ops_tr_live'));
  databases.push(live);
  await query(live, 'CREATE TABLE items (id int PRIMARY KEY, note text NOT NULL)');
  await query(live, `INSERT INTO items SELECT g, md5(g::text) FROM generate_series(1, ${ITEMS}) g`);
  await query(live, 'CREATE TABLE notes (id serial PRIMARY KEY, body text)');
  await query(live, `INSERT INTO notes (body) SELECT 'note ' || g FROM generate_series(1, ${NOTES}) g`);
  const name = `pg-${randomBytes(4).toString('hex')}`;
  harness.kube.pods.push(
    podFor(name, 'postgres', { PGHOST: '127.0.0.1', POSTGRES_USER: 'postgres', POSTGRES_DB: live }),
  );
  const deployment = await createDeployment(harness.db.prisma, workspaceId, {
    name,
    recipeSlug: 'postgresql',
    testRestoreSchedule: WEEKLY,
    createdAt: new Date(SUNDAY.getTime() - WEEK),
    ...fields,
  });
  return { deployment, live };
}

async function backUp(deployment: Deployment): Promise<BackupRecord> {
  const outcome = await executeBackup(harness.deps, deployment.id, { trigger: 'MANUAL' });
  if (outcome.status !== 'SUCCEEDED') throw new Error(`backup ${outcome.status}`);
  return outcome.record;
}

function testRestoresOf(deploymentId: string) {
  return harness.db.prisma.restoreRecord.findMany({
    where: { deploymentId, kind: 'TEST' },
    orderBy: { createdAt: 'asc' },
  });
}

function openAlert(deploymentId: string, kind: string) {
  return harness.db.prisma.alert.findFirst({ where: { deploymentId, kind, resolvedAt: null } });
}

/** One pass at `now`, keeping only this deployment's results (other tests' deployments may be due as well). */
async function pass(deploymentId: string) {
  const report = await runTestRestorePass(harness.deps, now);
  return report.results.filter((result) => result.deploymentId === deploymentId);
}

beforeAll(async () => {
  harness = await startBackupHarness({ clock: () => now });
  workspaceId = (await createWorkspace(harness.db.prisma)).id;
});

afterAll(async () => {
  await harness?.close();
  for (const name of databases) await dropDatabase(name);
});

describe('scheduled test-restores of PostgreSQL', () => {
  it('records the counts, drops the scratch database, then compares: data_shrank after most rows are deleted, resolved by a clean run', async () => {
    now = SUNDAY;
    const { deployment, live } = await postgresDeployment();
    const firstBackup = await backUp(deployment);

    // First run: never ran before, so due at once; its counts are the baseline.
    const [first] = await pass(deployment.id);
    expect(first).toMatchObject({
      outcome: 'clean',
      backupId: firstBackup.id,
      detail: expect.stringContaining('first test-restore'),
    });
    const [baseline] = await testRestoresOf(deployment.id);
    expect(baseline).toMatchObject({
      id: first!.restoreId,
      status: 'SUCCEEDED',
      kind: 'TEST',
      trigger: 'SCHEDULE',
      requestedBy: 'schedule',
      backupRecordId: firstBackup.id,
    });
    expect(baseline!.counts).toEqual({ tables: { 'public.items': ITEMS, 'public.notes': NOTES } });
    // Its scratch database is gone (other test files may have theirs on the shared server meanwhile).
    expect(await scratchDatabases()).not.toContain(baseline!.target);
    expect(
      (await harness.db.prisma.deployment.findUniqueOrThrow({ where: { id: deployment.id } })).lastTestRestoreAt,
    ).toEqual(now);

    // Not due again until next Sunday 03:00: nothing runs.
    now = new Date(SUNDAY.getTime() + 3 * 24 * HOUR);
    expect(await pass(deployment.id)).toEqual([]);
    expect(await testRestoresOf(deployment.id)).toHaveLength(1);

    // Most rows deleted, a new backup; next Sunday's test-restore restores that one and finds the drop.
    await query(live, `DELETE FROM items WHERE id > ${KEPT_ITEMS}`);
    now = new Date(SUNDAY.getTime() + WEEK - HOUR);
    const shrunkBackup = await backUp(deployment);
    now = new Date(SUNDAY.getTime() + WEEK);
    const [second] = await pass(deployment.id);
    expect(second).toMatchObject({ outcome: 'shrank', backupId: shrunkBackup.id });
    const shrank = await openAlert(deployment.id, DATA_SHRANK_ALERT);
    expect(shrank).toMatchObject({ severity: 'WARNING', backupRecordId: shrunkBackup.id });
    expect(shrank!.message).toContain(`public.items: ${ITEMS} → ${KEPT_ITEMS} rows (-95.0%)`);
    expect(shrank!.message).not.toContain('public.notes');
    expect((await testRestoresOf(deployment.id)).at(-1)!.counts).toEqual({
      tables: { 'public.items': KEPT_ITEMS, 'public.notes': NOTES },
    });

    // The week after, the same data again: a clean run resolves the warning.
    now = new Date(SUNDAY.getTime() + 2 * WEEK);
    const [third] = await pass(deployment.id);
    expect(third).toMatchObject({ outcome: 'clean', detail: expect.stringContaining('none shrank') });
    expect(await openAlert(deployment.id, DATA_SHRANK_ALERT)).toBeNull();
    const left = await scratchDatabases();
    for (const restore of await testRestoresOf(deployment.id)) expect(left).not.toContain(restore.target);
  });

  it('prefers the newest verified backup over a newer one that failed its format check', async () => {
    now = SUNDAY;
    const { deployment } = await postgresDeployment();
    const verified = await backUp(deployment);
    now = new Date(SUNDAY.getTime() + 60_000);
    const unverified = await backUp(deployment);
    await harness.db.prisma.backupRecord.update({
      where: { id: unverified.id },
      data: { verifiedAt: null, verifyError: 'cut short' },
    });
    const [result] = await pass(deployment.id);
    expect(result).toMatchObject({ outcome: 'clean', backupId: verified.id });
  });

  it('a failing restore raises test_restore_failed; a refused one too; the next good run resolves it', async () => {
    now = SUNDAY;
    const { deployment } = await postgresDeployment();
    const backup = await backUp(deployment);
    // Cut the dump and make sha256, sidecar and record agree with the cut file: only pg_restore can tell.
    await truncate(backup.path!, Number(backup.sizeBytes) - 200);
    const { sha256, sizeBytes } = await hashFile(backup.path!);
    await writeFile(sidecarPathFor(backup.path!), formatSidecar(sha256, path.basename(backup.path!)));
    await harness.db.prisma.backupRecord.update({ where: { id: backup.id }, data: { sha256, sizeBytes } });

    const [failed] = await pass(deployment.id);
    expect(failed).toMatchObject({ outcome: 'failed', backupId: backup.id });
    const record = (await testRestoresOf(deployment.id)).at(-1)!;
    expect(record).toMatchObject({ status: 'FAILED', kind: 'TEST', counts: null });
    const alert = await openAlert(deployment.id, TEST_RESTORE_FAILED_ALERT);
    expect(alert).toMatchObject({ severity: 'CRITICAL', backupRecordId: backup.id, occurrences: 1 });
    expect(alert!.message).toMatch(
      /^Scheduled test-restore of ws-[0-9a-f]+\/pg-[0-9a-f]+ failed: the backup from 2026-11-22T03:10:00.000Z could not be restored/,
    );
    // One failure, one alert: the engine's own restore_failed is not raised for a test-restore.
    expect(await harness.db.prisma.alert.count({ where: { deploymentId: deployment.id, resolvedAt: null } })).toBe(1);
    expect(await scratchDatabases()).not.toContain(record.target);
    // The run counts even though it failed: not retried every cycle.
    expect(
      (await harness.db.prisma.deployment.findUniqueOrThrow({ where: { id: deployment.id } })).lastTestRestoreAt,
    ).toEqual(now);

    // The file gone: the engine refuses before starting; that is a failed test-restore as well.
    await rm(backup.path!);
    now = new Date(SUNDAY.getTime() + WEEK);
    const [refused] = await pass(deployment.id);
    expect(refused).toMatchObject({
      outcome: 'failed',
      restoreId: null,
      detail: expect.stringContaining('restore refused'),
    });
    expect(await openAlert(deployment.id, TEST_RESTORE_FAILED_ALERT)).toMatchObject({ occurrences: 2 });

    const good = await backUp(deployment);
    now = new Date(SUNDAY.getTime() + 2 * WEEK);
    const [clean] = await pass(deployment.id);
    expect(clean).toMatchObject({ outcome: 'clean', backupId: good.id });
    expect(await openAlert(deployment.id, TEST_RESTORE_FAILED_ALERT)).toBeNull();
  });

  it('runs nothing for deployments without a schedule, without a backup, or not RUNNING', async () => {
    now = SUNDAY;
    const unscheduled = (await postgresDeployment({ testRestoreSchedule: null })).deployment;
    await backUp(unscheduled);
    const withoutBackup = (await postgresDeployment()).deployment;
    const stopped = (await postgresDeployment()).deployment;
    await backUp(stopped);
    await harness.db.prisma.deployment.update({ where: { id: stopped.id }, data: { status: 'STOPPED' } });
    const report = await runTestRestorePass(harness.deps, now);
    const ids = report.results.map((result) => result.deploymentId);
    for (const deployment of [unscheduled, withoutBackup, stopped]) {
      expect(ids).not.toContain(deployment.id);
      expect(await testRestoresOf(deployment.id)).toEqual([]);
      expect(
        (await harness.db.prisma.deployment.findUniqueOrThrow({ where: { id: deployment.id } })).lastTestRestoreAt,
      ).toBeNull();
    }
  });

  it('the worker cycle runs due test-restores after its backups and counts them in its summary', async () => {
    now = SUNDAY;
    const { deployment } = await postgresDeployment({ backupEnabled: true, backupSchedule: '0 3 * * *' });
    const loop = await harness.loop({ settings: { concurrency: 1, overdueGraceMs: HOUR, retryDelayMs: HOUR } });
    const summary = await runOnce(loop);
    const [restore] = await testRestoresOf(deployment.id);
    // The cycle backed the deployment up, then test-restored that very backup.
    const [backup] = await harness.db.prisma.backupRecord.findMany({ where: { deploymentId: deployment.id } });
    expect(restore).toMatchObject({ status: 'SUCCEEDED', backupRecordId: backup!.id });
    expect(summary.cycle.testRestoresQueued).toBeGreaterThanOrEqual(1);
    expect(summary.jobs.testRestores).toBeGreaterThanOrEqual(1);
    expect(summary.jobs.testRestoresFailed).toBe(0);
    const again = await runOnce(loop);
    expect(again.cycle.testRestoresQueued).toBe(0);
    expect(again.jobs.testRestores).toBe(0);
    expect(await testRestoresOf(deployment.id)).toHaveLength(1);
  });
});
