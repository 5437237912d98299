import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackupRecord, BackupStatus, Deployment } from '../../../src/generated/prisma/client.ts';
import { idsToDelete, pruneBackups } from '../../../src/lib/retention/prune.ts';
import { InvalidRetentionError } from '../../../src/lib/retention/retention.ts';
import { setBackupPinned } from '../../../src/lib/retention/retention-pin.ts';
import { startBackupHarness, type BackupHarness } from '../../support/backup-harness.ts';
import { filesUnder, folderOf } from '../../support/backup-checks.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';

// Retention on real files: backups are written through the store itself (temp file, fsync, rename, sidecar) and
// recorded as SUCCEEDED, then pruned. Retention deletes only what it should, only inside the deployment's own folder,
// and a second run deletes nothing more.

const T0 = new Date('2026-03-01T02:00:00Z');
const HOUR_MS = 3_600_000;
const BACKUP_BYTES = 4 * 1024;
const DEFAULT_RETENTION = 10;

let harness: BackupHarness;
let workspaceId: string;
let scratch: string;

beforeAll(async () => {
  harness = await startBackupHarness();
  workspaceId = (await createWorkspace(harness.db.prisma)).id;
  scratch = await mkdtemp(path.join(os.tmpdir(), 'prune-outside-'));
});

afterAll(async () => {
  await harness?.close();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

function hoursAfterT0(hours: number): Date {
  return new Date(T0.getTime() + hours * HOUR_MS);
}

function newDeployment(columns: Partial<Deployment> = {}): Promise<Deployment> {
  return createDeployment(harness.db.prisma, workspaceId, {
    name: `db-${randomBytes(4).toString('hex')}`,
    recipeSlug: 'postgresql',
    ...columns,
  });
}

/** A finished backup file written by the store, and its SUCCEEDED record, started `hours` after T0. */
async function seedBackup(deployment: Deployment, hours: number): Promise<BackupRecord> {
  const startedAt = hoursAfterT0(hours);
  const writer = await harness.deps.store.open({
    workspaceId,
    deploymentName: deployment.name,
    extension: 'dump',
    compressed: true,
    startedAt,
  });
  writer.stream.write(randomBytes(BACKUP_BYTES));
  const stored = await writer.commit();
  return harness.db.prisma.backupRecord.create({
    data: {
      deploymentId: deployment.id,
      workspaceId,
      trigger: 'SCHEDULE',
      status: 'SUCCEEDED',
      startedAt,
      finishedAt: startedAt,
      format: 'postgres-custom',
      path: stored.path,
      sizeBytes: stored.sizeBytes,
      sha256: stored.sha256,
      extension: stored.extension,
    },
  });
}

/** A record alone (no file written), started `hours` after T0. */
function seedRecord(
  deployment: Deployment,
  hours: number,
  status: BackupStatus,
  fields: { path?: string } = {},
): Promise<BackupRecord> {
  return harness.db.prisma.backupRecord.create({
    data: {
      deploymentId: deployment.id,
      workspaceId,
      trigger: 'SCHEDULE',
      status,
      startedAt: hoursAfterT0(hours),
      ...(status === 'FAILED' ? { errorKind: 'ExecFailed', error: 'pg_dump exited with code 1' } : {}),
      ...fields,
    },
  });
}

async function recordIds(deployment: Deployment): Promise<string[]> {
  const records = await harness.db.prisma.backupRecord.findMany({
    where: { deploymentId: deployment.id },
    select: { id: true },
  });
  return records.map((record) => record.id).sort();
}

/** The backup file and its sidecar, as `filesUnder` lists them. */
function filesOf(...records: BackupRecord[]): string[] {
  return records.flatMap((record) => [path.basename(record.path!), `${path.basename(record.path!)}.sha256`]).sort();
}

function idsOf(...records: BackupRecord[]): string[] {
  return records.map((record) => record.id).sort();
}

describe('retention', () => {
  it('keeps the newest 10 of 12 backups by default, deleting the 2 oldest files, sidecars and records; a second run deletes nothing', async () => {
    const deployment = await newDeployment();
    const backups: BackupRecord[] = [];
    for (let hour = 0; hour < 12; hour += 1) backups.push(await seedBackup(deployment, hour));
    const [oldest, secondOldest, ...newest] = backups;

    const report = await pruneBackups(harness.deps, deployment.id, { confirm: true });

    expect(report).toMatchObject({
      policy: { keepLast: DEFAULT_RETENTION },
      dryRun: false,
      kept: 10,
      prunedFailedRecords: [],
      problems: [],
    });
    expect(report.pruned.map((pruned) => pruned.id).sort()).toEqual(idsOf(oldest!, secondOldest!));
    expect(report.pruned.every((pruned) => !pruned.fileWasMissing)).toBe(true);
    expect(await filesUnder(folderOf(harness.root, deployment))).toEqual(filesOf(...newest));
    expect(await recordIds(deployment)).toEqual(idsOf(...newest));

    const again = await pruneBackups(harness.deps, deployment.id, { confirm: true });

    expect(again).toMatchObject({ kept: 10, pruned: [], prunedFailedRecords: [], problems: [] });
    expect(await filesUnder(folderOf(harness.root, deployment))).toEqual(filesOf(...newest));
  });

  it('never prunes the newest successful backup, even behind newer failures', async () => {
    const deployment = await newDeployment();
    const successes = [
      await seedBackup(deployment, 0),
      await seedBackup(deployment, 1),
      await seedBackup(deployment, 2),
    ];
    const failures = [
      await seedRecord(deployment, 3, 'FAILED'),
      await seedRecord(deployment, 4, 'FAILED'),
      await seedRecord(deployment, 5, 'FAILED'),
    ];

    const report = await pruneBackups(harness.deps, deployment.id, { policy: { keepLast: 1 }, confirm: true });

    expect(report.pruned.map((pruned) => pruned.id).sort()).toEqual(idsOf(successes[0]!, successes[1]!));
    expect(report.prunedFailedRecords).toEqual([]);
    expect(await filesUnder(folderOf(harness.root, deployment))).toEqual(filesOf(successes[2]!));
    expect(await recordIds(deployment)).toEqual(idsOf(successes[2]!, ...failures));
  });

  it('deletes failed records older than the kept window, keeps newer ones, and never touches a running record', async () => {
    const deployment = await newDeployment();
    const oldSuccess = await seedBackup(deployment, 0);
    const oldFailure = await seedRecord(deployment, 1, 'FAILED');
    const staleRunning = await seedRecord(deployment, 1.5, 'RUNNING');
    const keptSuccess = await seedBackup(deployment, 2);
    const failureInWindow = await seedRecord(deployment, 3, 'FAILED');
    const newestSuccess = await seedBackup(deployment, 4);
    const newestFailure = await seedRecord(deployment, 5, 'FAILED');

    const report = await pruneBackups(harness.deps, deployment.id, { policy: { keepLast: 2 }, confirm: true });

    expect(report.pruned.map((pruned) => pruned.id)).toEqual([oldSuccess.id]);
    expect(report.prunedFailedRecords).toEqual([
      { id: oldFailure.id, startedAt: oldFailure.startedAt.toISOString(), reason: 'old-failure' },
    ]);
    expect(await recordIds(deployment)).toEqual(
      idsOf(staleRunning, keptSuccess, failureInWindow, newestSuccess, newestFailure),
    );
    expect(await recordIds(deployment)).not.toContain(oldFailure.id);
    expect(await filesUnder(folderOf(harness.root, deployment))).toEqual(filesOf(keptSuccess, newestSuccess));
  });

  it('removes the record of a file that is already gone and says so', async () => {
    const deployment = await newDeployment();
    const vanished = await seedBackup(deployment, 0);
    const newest = await seedBackup(deployment, 1);
    await unlink(vanished.path!);

    const report = await pruneBackups(harness.deps, deployment.id, { policy: { keepLast: 1 }, confirm: true });

    expect(report.pruned).toEqual([
      {
        id: vanished.id,
        startedAt: vanished.startedAt.toISOString(),
        path: vanished.path,
        sizeBytes: String(BACKUP_BYTES),
        reason: 'no-keep-rule',
        remoteCopies: [],
        fileWasMissing: true,
      },
    ]);
    expect(report.problems).toEqual([]);
    expect(await recordIds(deployment)).toEqual([newest.id]);
    expect(await filesUnder(folderOf(harness.root, deployment))).toEqual(filesOf(newest));
  });

  it('only reports in a dry run', async () => {
    const deployment = await newDeployment();
    const backups = [await seedBackup(deployment, 0), await seedBackup(deployment, 1), await seedBackup(deployment, 2)];
    await seedRecord(deployment, -1, 'FAILED');
    const before = {
      files: await filesUnder(folderOf(harness.root, deployment)),
      records: await recordIds(deployment),
    };

    const report = await pruneBackups(harness.deps, deployment.id, { policy: { keepLast: 1 }, dryRun: true });

    expect(report).toMatchObject({ dryRun: true, problems: [] });
    expect(report.prunedFailedRecords).toHaveLength(1);
    expect(report.pruned.map((pruned) => pruned.id).sort()).toEqual(idsOf(backups[0]!, backups[1]!));
    expect({
      files: await filesUnder(folderOf(harness.root, deployment)),
      records: await recordIds(deployment),
    }).toEqual(before);
  });

  it.each([0, -1, 1.5])('refuses keepLast %s with InvalidRetentionError and deletes nothing', async (keepCount) => {
    const deployment = await newDeployment();
    await seedBackup(deployment, 0);
    await seedBackup(deployment, 1);
    const before = {
      files: await filesUnder(folderOf(harness.root, deployment)),
      records: await recordIds(deployment),
    };

    await expect(
      pruneBackups(harness.deps, deployment.id, { policy: { keepLast: keepCount }, confirm: true }),
    ).rejects.toBeInstanceOf(InvalidRetentionError);

    expect({
      files: await filesUnder(folderOf(harness.root, deployment)),
      records: await recordIds(deployment),
    }).toEqual(before);
  });
});

describe('retention outside the deployment folder', () => {
  it('refuses records whose path leaves the folder: the file stays, the record stays, the problem is reported', async () => {
    const deployment = await newDeployment();
    const neighbour = await newDeployment();
    const neighbourBackups = [await seedBackup(neighbour, 0), await seedBackup(neighbour, 1)];
    const systemFile = path.join(scratch, 'passwd');
    await writeFile(systemFile, 'root:x:0:0:root:/root:/bin/bash\n');
    const link = path.join(folderOf(harness.root, deployment), '20260301T000000.000Z.dump');
    const newest = await seedBackup(deployment, 10);
    await symlink(systemFile, link);
    const outside = {
      neighbourFile: neighbourBackups[0]!.path!,
      systemFile,
      dotDot: path.join(
        folderOf(harness.root, deployment),
        '..',
        neighbour.name,
        path.basename(neighbourBackups[1]!.path!),
      ),
      link,
    };
    const refused = await Promise.all(
      Object.values(outside).map((filePath, hour) => seedRecord(deployment, hour, 'SUCCEEDED', { path: filePath })),
    );
    const contentsBefore = await Promise.all(
      [...Object.values(outside).slice(0, 3), systemFile].map((file) => readFile(file)),
    );

    const report = await pruneBackups(harness.deps, deployment.id, { policy: { keepLast: 1 }, confirm: true });

    expect(report.pruned).toEqual([]);
    expect(report.problems.map((problem) => problem.path).sort()).toEqual(Object.values(outside).sort());
    for (const problem of report.problems) {
      expect(problem.reason).toMatch(/^storage: refused .*(not directly inside the deployment folder|symbolic link)/);
    }
    expect(await recordIds(deployment)).toEqual(idsOf(newest, ...refused));
    expect(
      await Promise.all([...Object.values(outside).slice(0, 3), systemFile].map((file) => readFile(file))),
    ).toEqual(contentsBefore);
    expect(await filesUnder(folderOf(harness.root, neighbour))).toEqual(filesOf(...neighbourBackups));
    expect(await filesUnder(folderOf(harness.root, deployment))).toEqual(
      [path.basename(link), ...filesOf(newest)].sort(),
    );
    expect(harness.logs()).toContain('prune kept a backup it could not delete');
  });
});

describe('the deployment policy', () => {
  const DAY_HOURS = 24;

  it("applies GFS from the deployment's columns in its time zone: the newest backup of each of the last 3 local days", async () => {
    // Three backups a day at 21:00, 22:30 and 23:30 UTC for four days: in Berlin (UTC+1 in March) the 23:30 one is
    // already the next day.
    const deployment = await newDeployment({ backupRetention: 1, retentionDaily: 3, backupTimezone: 'Europe/Berlin' });
    const byDay: BackupRecord[][] = [];
    for (let day = 0; day < 4; day += 1) {
      byDay.push([
        await seedBackup(deployment, day * DAY_HOURS + 19),
        await seedBackup(deployment, day * DAY_HOURS + 20.5),
        await seedBackup(deployment, day * DAY_HOURS + 21.5),
      ]);
    }
    // Local days: Mar 1 holds day 0's 21:00 and 22:30; Mar 2 holds day 0's 23:30 and day 1's first two; … Mar 5 holds day 3's 23:30.
    const expectedKept = [byDay[3]![2]!, byDay[3]![1]!, byDay[2]![1]!];

    const plan = await pruneBackups(harness.deps, deployment.id, { dryRun: true });
    expect(plan.policy).toEqual({ keepLast: 1, daily: 3, timeZone: 'Europe/Berlin' });
    expect(plan.keep.map((kept) => [kept.id, kept.reasons])).toEqual([
      [expectedKept[0]!.id, ['newest', 'keep-last', 'daily']],
      [expectedKept[1]!.id, ['daily']],
      [expectedKept[2]!.id, ['daily']],
    ]);

    const report = await pruneBackups(harness.deps, deployment.id, { confirm: true });
    expect(idsToDelete(report)).toEqual(idsToDelete(plan));
    expect(await recordIds(deployment)).toEqual(idsOf(...expectedKept));
    expect(await filesUnder(folderOf(harness.root, deployment))).toEqual(filesOf(...expectedKept));
  });

  it('refuses a policy column out of range, naming it, and deletes nothing', async () => {
    const deployment = await newDeployment({ backupRetention: 1, retentionDaily: -1 });
    await seedBackup(deployment, 0);
    await seedBackup(deployment, 1);
    const before = await recordIds(deployment);

    await expect(pruneBackups(harness.deps, deployment.id, { confirm: true })).rejects.toThrow(
      'retention: retentionDaily must be 0 or more (0 turns the day rule off) (got -1)',
    );
    expect(await recordIds(deployment)).toEqual(before);
  });
});

describe('pinned backups', () => {
  it('are never pruned, and unpinned ones are again', async () => {
    const deployment = await newDeployment({ backupRetention: 1 });
    const old = await seedBackup(deployment, 0);
    const middle = await seedBackup(deployment, 1);
    const newest = await seedBackup(deployment, 2);
    expect(await setBackupPinned(harness.db.prisma, { backupId: old.id }, true)).toEqual({
      ok: true,
      backupId: old.id,
      pinned: true,
      changed: true,
    });
    expect(await setBackupPinned(harness.db.prisma, { backupId: old.id }, true)).toMatchObject({
      ok: true,
      changed: false,
    });

    const report = await pruneBackups(harness.deps, deployment.id, { confirm: true });
    expect(report.keep.map((kept) => [kept.id, kept.reasons])).toEqual([
      [newest.id, ['newest', 'keep-last']],
      [old.id, ['pinned']],
    ]);
    expect(report.pruned.map((pruned) => pruned.id)).toEqual([middle.id]);
    expect(await filesUnder(folderOf(harness.root, deployment))).toEqual(filesOf(old, newest));

    expect(await setBackupPinned(harness.db.prisma, { backupId: old.id }, false)).toMatchObject({
      ok: true,
      pinned: false,
      changed: true,
    });
    expect(
      (await pruneBackups(harness.deps, deployment.id, { confirm: true })).pruned.map((pruned) => pruned.id),
    ).toEqual([old.id]);
    expect(await recordIds(deployment)).toEqual([newest.id]);
  });

  it('can only be successful backups; an unknown id or another workspace is NOT_FOUND', async () => {
    const deployment = await newDeployment();
    const failed = await seedRecord(deployment, 0, 'FAILED');
    const running = await seedRecord(deployment, 1, 'RUNNING');
    const success = await seedBackup(deployment, 2);
    expect(await setBackupPinned(harness.db.prisma, { backupId: failed.id }, true)).toEqual({
      ok: false,
      code: 'NOT_SUCCEEDED',
      message: `backup "${failed.id}" is FAILED: only a successful backup can be pinned`,
    });
    expect(await setBackupPinned(harness.db.prisma, { backupId: running.id }, true)).toMatchObject({
      ok: false,
      code: 'NOT_SUCCEEDED',
    });
    expect(await setBackupPinned(harness.db.prisma, { backupId: 'nosuchbackup' }, true)).toMatchObject({
      ok: false,
      code: 'NOT_FOUND',
    });
    expect(
      await setBackupPinned(harness.db.prisma, { backupId: success.id, workspaceId: 'someoneelse' }, true),
    ).toMatchObject({ ok: false, code: 'NOT_FOUND' });
    const pinnedCount = await harness.db.prisma.backupRecord.count({
      where: { deploymentId: deployment.id, pinned: true },
    });
    expect(pinnedCount).toBe(0);
  });
});

describe('a confirmed plan (expectDelete)', () => {
  it('deletes when the plan is the one confirmed', async () => {
    const deployment = await newDeployment({ backupRetention: 1 });
    const backups = [await seedBackup(deployment, 0), await seedBackup(deployment, 1), await seedBackup(deployment, 2)];
    const plan = await pruneBackups(harness.deps, deployment.id, { dryRun: true });

    const report = await pruneBackups(harness.deps, deployment.id, { expectDelete: idsToDelete(plan), confirm: true });

    expect(report).toMatchObject({ dryRun: false, planChanged: null, problems: [] });
    expect(await recordIds(deployment)).toEqual([backups[2]!.id]);
  });

  it('deletes nothing when the plan changed since it was confirmed (a backup pinned, another one started)', async () => {
    const deployment = await newDeployment({ backupRetention: 1 });
    const backups = [await seedBackup(deployment, 0), await seedBackup(deployment, 1), await seedBackup(deployment, 2)];
    const plan = await pruneBackups(harness.deps, deployment.id, { dryRun: true });
    expect(idsToDelete(plan)).toEqual(idsOf(backups[0]!, backups[1]!));
    await setBackupPinned(harness.db.prisma, { backupId: backups[0]!.id }, true);
    const newer = await seedBackup(deployment, 3);
    const before = {
      files: await filesUnder(folderOf(harness.root, deployment)),
      records: await recordIds(deployment),
    };

    const report = await pruneBackups(harness.deps, deployment.id, { expectDelete: idsToDelete(plan), confirm: true });

    expect(report.dryRun).toBe(true);
    expect(report.planChanged).toEqual({ unconfirmed: [backups[2]!.id], noLongerDeleted: [backups[0]!.id] });
    expect(idsToDelete(report)).toEqual(idsOf(backups[1]!, backups[2]!));
    expect({
      files: await filesUnder(folderOf(harness.root, deployment)),
      records: await recordIds(deployment),
    }).toEqual(before);
    expect(await recordIds(deployment)).toContain(newer.id);
  });
});

describe('the retention guard', () => {
  const openPruneAlerts = (deployment: Deployment) =>
    harness.db.prisma.alert.findMany({
      where: { deploymentId: deployment.id, kind: 'prune_refused', resolvedAt: null },
    });

  it('refuses a 90% deletion: nothing deleted, the dry run says why, a warning alert; confirmed, it proceeds', async () => {
    const deployment = await newDeployment({ backupRetention: 1 });
    const backups: BackupRecord[] = [];
    for (let hour = 0; hour < 10; hour += 1) backups.push(await seedBackup(deployment, hour));
    const folder = folderOf(harness.root, deployment);

    const preview = await pruneBackups(harness.deps, deployment.id, { dryRun: true });
    expect(preview.guard).toEqual({
      reasons: ['it would delete 9 of the 10 successful backups, more than half of them'],
      confirmed: false,
    });

    const stopped = await pruneBackups(harness.deps, deployment.id);
    expect(stopped).toMatchObject({ dryRun: true, guard: { confirmed: false } });
    expect(stopped.pruned).toHaveLength(9);
    expect(await filesUnder(folder)).toEqual(filesOf(...backups));
    expect(await recordIds(deployment)).toEqual(idsOf(...backups));
    const [alert] = await openPruneAlerts(deployment);
    expect(alert).toMatchObject({ severity: 'WARNING' });
    expect(alert!.message).toContain(`npm run backup -- prune ${deployment.id} --confirm`);

    const confirmed = await pruneBackups(harness.deps, deployment.id, { confirm: true });
    expect(confirmed).toMatchObject({ dryRun: false, guard: { confirmed: true } });
    expect(await recordIds(deployment)).toEqual(idsOf(backups[9]!));
    expect(await filesUnder(folder)).toEqual(filesOf(backups[9]!));
    expect(await openPruneAlerts(deployment)).toEqual([]);
  });

  it('lets a deletion of half the backups through', async () => {
    const deployment = await newDeployment({ backupRetention: 2 });
    for (let hour = 0; hour < 4; hour += 1) await seedBackup(deployment, hour);

    const report = await pruneBackups(harness.deps, deployment.id);

    expect(report).toMatchObject({ dryRun: false, guard: null });
    expect(report.pruned).toHaveLength(2);
  });

  it.each([
    { newest: 'failed', seed: (deployment: Deployment) => seedRecord(deployment, 20, 'FAILED') },
    {
      newest: 'suspicious',
      seed: async (deployment: Deployment) => {
        const tiny = await seedBackup(deployment, 20);
        await harness.db.prisma.backupRecord.update({ where: { id: tiny.id }, data: { suspicious: true } });
      },
    },
  ])('stops any deletion while the newest backup is $newest', async ({ newest, seed }) => {
    const deployment = await newDeployment({ backupRetention: 3 });
    for (let hour = 0; hour < 4; hour += 1) await seedBackup(deployment, hour);
    await seed(deployment);
    const before = await recordIds(deployment);

    const report = await pruneBackups(harness.deps, deployment.id);

    expect(report.dryRun).toBe(true);
    expect(report.guard!.reasons).toEqual([
      newest === 'failed'
        ? 'the newest backup failed'
        : 'the newest backup is suspicious (far smaller than the ones before it)',
    ]);
    expect(await recordIds(deployment)).toEqual(before);
    expect(await openPruneAlerts(deployment)).toHaveLength(1);
  });
});
