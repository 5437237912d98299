import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackupRecord, Deployment } from '../../../src/generated/prisma/client.ts';
import type { BackupFailureKind } from '../../../src/lib/shared/failures.ts';
import { executeBackup, type BackupDependencies, type BackupOutcome } from '../../../src/lib/backups/backup.ts';
import { BackupInterruptedError } from '../../../src/lib/backups/backup-outcome.ts';
import { recoverInterruptedBackups } from '../../../src/lib/backups/recovery.ts';
import { createFileBackupStore, type CreateFileSink } from '../../../src/lib/storage/backup-store.ts';
import { hashFile } from '../../../src/lib/storage/verify-backup.ts';
import { readManifest } from '../../../src/lib/storage/backup-manifest.ts';
import { exportExecs, podFor, startBackupHarness, type BackupHarness } from '../../support/backup-harness.ts';
import {
  createSourceDatabase,
  filesUnder,
  folderOf,
  toSearchableJson,
  waitUntil,
} from '../../support/backup-checks.ts';
import type { ExecRecord, FakePod } from '../../support/fake-kube-api.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';
import { adminQuery, dropDatabase } from '../../support/postgres.ts';
import { ALERTS_REFUSED, withAlertInsertsRefused } from '../../support/refuse-alerts.ts';

// Every way a backup can go wrong, each provoked for real: pg_dump against the local PostgreSQL, run "in the pod"
// through the fake Kubernetes API (faults injected into the exec protocol), streamed into files under a temp root.
// A failure must leave a FAILED record naming its kind, no file at all, an open critical alert, and a free claim.

const execFileAsync = promisify(execFile);

/** Rows of the source database: a custom-format dump of about 800 KB, more than any fault threshold below. */
const SOURCE_ROWS = 20_000;
const DROP_AFTER_BYTES = 4 * 1024;
const STALL_AFTER_BYTES = 256 * 1024;
/** The simulated disk fills up long before the stalled exec could have sent everything. */
const DISK_CAPACITY_BYTES = 16 * 1024;
const SHORT_TIMEOUT_MS = 1_500;
/**
 * The stall limit of the watchdog test: far below its overall time limit, which must not be what ends it, and above
 * pg_dump's start on a busy machine (at 400 ms, a pg_dump that took longer to send its first bytes was stopped
 * before the fault point, about 1 run in 7 at a load average of 8 on 2 CPUs).
 */
const SHORT_STALL_MS = 2_000;
const LONG_TIMEOUT_MS = 30_000;
/** The stall limit of the slow-disk test: above pg_dump's start on a busy machine, below the disk's pause. */
const SLOW_DISK_STALL_MS = 1_000;
const SLOW_STATUS_MS = 1_500;
const SIMULTANEOUS_BACKUPS = 3;
/** How long a torn-down exec may take to be killed by the fake once the client hung up. */
const TEARDOWN_DEADLINE_MS = 5_000;
const SECRET = `S3cret-${randomBytes(6).toString('hex')}`;

let harness: BackupHarness;
let workspaceId: string;
let sourceDatabase: string;

beforeAll(async () => {
  sourceDatabase = await createSourceDatabase(SOURCE_ROWS);
  harness = await startBackupHarness();
  workspaceId = (await createWorkspace(harness.db.prisma)).id;
});

afterAll(async () => {
  await harness?.close();
  if (sourceDatabase) await dropDatabase(sourceDatabase);
});

/** The env of a PostgreSQL container whose pg_dump reaches the local server; the password is never needed (trust). */
function postgresEnv(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    PGHOST: '127.0.0.1',
    POSTGRES_USER: 'postgres',
    POSTGRES_DB: sourceDatabase,
    PGPASSWORD: SECRET,
    ...overrides,
  };
}

let deploymentCount = 0;

/** A RUNNING postgresql deployment with a unique name and, unless `pod` is null, its pod in the fake cluster. */
async function deploymentWithPod(
  pod: { env?: Record<string, string>; overrides?: Partial<FakePod> } | null = {},
  fields: Parameters<typeof createDeployment>[2] = {},
): Promise<Deployment> {
  deploymentCount += 1;
  const name = `db-${deploymentCount}-${randomBytes(3).toString('hex')}`;
  if (pod) harness.kube.pods.push(podFor(name, 'postgres', postgresEnv(pod.env), pod.overrides));
  return createDeployment(harness.db.prisma, workspaceId, {
    name,
    recipeSlug: 'postgresql',
    status: 'RUNNING',
    namespace: 'apps',
    ...fields,
  });
}

function backUp(
  deployment: Deployment,
  deps: BackupDependencies = harness.deps,
  signal?: AbortSignal,
): Promise<BackupOutcome> {
  return executeBackup(deps, deployment.id, { trigger: 'MANUAL', ...(signal ? { signal } : {}) });
}

/** The export the fake ran in the deployment's pod (exactly one is expected; the live table count runs before it). */
function execOf(deployment: Deployment): ExecRecord {
  const execs = exportExecs(harness.kube.execs).filter((exec) => exec.pod === `${deployment.name}-0`);
  expect(execs).toHaveLength(1);
  return execs[0]!;
}

/** Resolves with how the exec ended, or fails when it is still running after the deadline (not torn down). */
async function exitOf(exec: ExecRecord) {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () => reject(new Error(`the exec (${exec.transferred.stdout} bytes sent) was not torn down`)),
      TEARDOWN_DEADLINE_MS,
    );
  });
  try {
    return await Promise.race([exec.exited, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The contract of every failed backup: the outcome and the stored record say FAILED with `kind`, no file (not even a
 * temporary one) is left in the deployment's folder, one open CRITICAL `backup_failed` alert points at the record,
 * and the deployment's claim is free again. Returns the stored record.
 */
async function expectCleanFailure(
  outcome: BackupOutcome,
  deployment: Deployment,
  kind: BackupFailureKind,
): Promise<BackupRecord> {
  const db = harness.db.prisma;
  expect(outcome.status).toBe('FAILED');
  if (outcome.status !== 'FAILED') throw new Error('unreachable');
  const record = await db.backupRecord.findUniqueOrThrow({ where: { id: outcome.record.id } });
  expect(outcome.record).toEqual(record);
  expect(record).toMatchObject({
    status: 'FAILED',
    errorKind: kind,
    path: null,
    sha256: null,
    sizeBytes: null,
    deploymentId: deployment.id,
  });
  expect(record.error).toBeTruthy();
  expect(record.finishedAt).not.toBeNull();
  expect(await filesUnder(folderOf(harness.root, deployment))).toEqual([]);
  const alerts = await db.alert.findMany({ where: { deploymentId: deployment.id, resolvedAt: null } });
  expect(alerts).toHaveLength(1);
  const alertKind = kind === 'Stalled' ? 'backup_stalled' : 'backup_failed';
  expect(alerts[0]).toMatchObject({ kind: alertKind, severity: 'CRITICAL', backupRecordId: record.id });
  expect(alerts[0]!.message).toContain(`failed (${kind})`);
  const after = await db.deployment.findUniqueOrThrow({ where: { id: deployment.id } });
  expect(after).toMatchObject({ backupClaimToken: null, backupClaimExpiresAt: null, lastBackupAt: null });
  return record;
}

/** A sink whose first write takes `delayMs` (a disk that stalls once): the export is paused meanwhile. */
function slowSink(delayMs: number): CreateFileSink {
  return (file) => {
    let first = true;
    return new Writable({
      highWaterMark: 1,
      write(chunk: Buffer, _encoding, done) {
        const wait = first ? delayMs : 0;
        first = false;
        setTimeout(() => void file.write(chunk).then(() => done(), done), wait);
      },
    });
  };
}

/** A sink that takes `capacityBytes` into the file, then fails every write like a full disk. */
function fullDiskSink(capacityBytes: number): CreateFileSink {
  return (file) => {
    let written = 0;
    return new Writable({
      write(chunk: Buffer, _encoding, done) {
        if (written + chunk.length > capacityBytes)
          return done(Object.assign(new Error('no space left on device'), { code: 'ENOSPC' }));
        written += chunk.length;
        file.write(chunk).then(() => done(), done);
      },
    });
  };
}

describe('a failing export', () => {
  it('records a non-zero exit as ExecFailed with the exit code and the pg_dump message', async () => {
    const missing = `missing_${randomBytes(4).toString('hex')}`;
    const deployment = await deploymentWithPod({ env: { POSTGRES_DB: missing } });

    const record = await expectCleanFailure(await backUp(deployment), deployment, 'ExecFailed');

    expect(record.exitCode).toBe(1);
    expect(record.stderrTail).toContain(`database "${missing}" does not exist`);
    expect(record.error).toContain(
      `pod "${deployment.name}-0" (container "postgres") in namespace "apps" exited with code 1`,
    );
    expect(record.error).toContain(`database "${missing}" does not exist`);
  });

  it('records a connection dropped mid-stream as ConnectionLost, never as a success', async () => {
    const deployment = await deploymentWithPod({ overrides: { faults: { dropAfterBytes: DROP_AFTER_BYTES } } });

    const record = await expectCleanFailure(await backUp(deployment), deployment, 'ConnectionLost');

    expect(execOf(deployment).transferred.stdout).toBe(DROP_AFTER_BYTES);
    expect(record.error).toContain('without an exit status');
    expect(record.error).toContain('the export is incomplete');
  });

  it('records a connection closed normally but without an exit status as ConnectionLost', async () => {
    const deployment = await deploymentWithPod({ overrides: { faults: { omitStatus: true } } });

    const record = await expectCleanFailure(await backUp(deployment), deployment, 'ConnectionLost');

    // pg_dump itself finished: only the missing status tells that the output cannot be trusted.
    await expect(execOf(deployment).exited).resolves.toMatchObject({ exitCode: 0 });
    expect(record.error).toContain('closed (code 1000) without an exit status');
  });
});

describe('a failure whose alert cannot be written', () => {
  it('is not recorded FAILED without its alert: the record stays RUNNING, and recovery fails it with the alert', async () => {
    const db = harness.db.prisma;
    const deployment = await deploymentWithPod({ env: { POSTGRES_DB: `missing_${randomBytes(4).toString('hex')}` } });
    // The alert's insert fails (as a full or broken table would); the FAILED update must not stand without it.
    const failure = await withAlertInsertsRefused(db, () => backUp(deployment).catch((error: unknown) => error));

    expect(String(failure)).toContain(ALERTS_REFUSED);
    const [left] = await db.backupRecord.findMany({ where: { deploymentId: deployment.id } });
    expect(left).toMatchObject({ status: 'RUNNING' });
    expect(await db.alert.findMany({ where: { deploymentId: deployment.id } })).toEqual([]);

    const report = await recoverInterruptedBackups(harness.deps);

    expect(report.interrupted.map((entry) => entry.id)).toContain(left!.id);
    expect(await db.backupRecord.findUniqueOrThrow({ where: { id: left!.id } })).toMatchObject({
      status: 'FAILED',
      errorKind: 'Interrupted',
    });
    const alerts = await db.alert.findMany({ where: { deploymentId: deployment.id, resolvedAt: null } });
    expect(alerts).toMatchObject([{ kind: 'backup_failed', severity: 'CRITICAL', backupRecordId: left!.id }]);
  });
});

describe('a pod that cannot run the export', () => {
  it('records PodNotFound when no pod matches the selector', async () => {
    const deployment = await deploymentWithPod(null);

    const record = await expectCleanFailure(await backUp(deployment), deployment, 'PodNotFound');

    expect(record.error).toBe(
      `no pod in namespace "apps" matches selector "app.kubernetes.io/instance=${deployment.name}"`,
    );
  });

  it('records ContainerNotReady when the postgres container is not ready', async () => {
    const deployment = await deploymentWithPod({});
    const pod = harness.kube.pods.find((candidate) => candidate.name === `${deployment.name}-0`)!;
    pod.containers[0]!.ready = false;

    const record = await expectCleanFailure(await backUp(deployment), deployment, 'ContainerNotReady');

    expect(record.error).toContain(
      `container "postgres" of pod "${deployment.name}-0" in namespace "apps" is not ready`,
    );
  });

  it('records ContainerNotReady naming the containers a pod without postgres has', async () => {
    const deployment = await deploymentWithPod({
      overrides: {
        containers: [
          { name: 'app', ready: true },
          { name: 'metrics', ready: true },
        ],
      },
    });

    const record = await expectCleanFailure(await backUp(deployment), deployment, 'ContainerNotReady');

    expect(record.error).toBe(
      `pod "${deployment.name}-0" in namespace "apps" has no container "postgres" (containers: app, metrics)`,
    );
  });
});

describe('stopping a running export', () => {
  it('records a full disk as StorageFailed and tears the exec down', async () => {
    // The pod stalls after more bytes than the disk holds, so the exec can only end by being torn down.
    const deployment = await deploymentWithPod({ overrides: { faults: { stallAfterBytes: STALL_AFTER_BYTES } } });
    const store = createFileBackupStore({
      root: harness.root,
      logger: harness.deps.logger,
      createSink: fullDiskSink(DISK_CAPACITY_BYTES),
    });

    const record = await expectCleanFailure(
      await backUp(deployment, { ...harness.deps, store }),
      deployment,
      'StorageFailed',
    );

    expect(record.error).toContain('no space left on device');
    await expect(exitOf(execOf(deployment))).resolves.toMatchObject({ signal: 'SIGKILL' });
  });

  it('records an export that stalls past the time limit as Timeout and tears the exec down', async () => {
    const deployment = await deploymentWithPod({ overrides: { faults: { stallAfterBytes: STALL_AFTER_BYTES } } });
    const settings = { ...harness.deps.settings, timeoutMs: SHORT_TIMEOUT_MS };

    const started = Date.now();
    const record = await expectCleanFailure(
      await backUp(deployment, { ...harness.deps, settings }),
      deployment,
      'Timeout',
    );

    expect(Date.now() - started).toBeGreaterThanOrEqual(SHORT_TIMEOUT_MS);
    expect(record.error).toContain(
      `did not finish within ${SHORT_TIMEOUT_MS} ms (${STALL_AFTER_BYTES} bytes received)`,
    );
    await expect(exitOf(execOf(deployment))).resolves.toMatchObject({ signal: 'SIGKILL' });
  });

  it('stops an export whose pod goes silent as Stalled within the stall limit, long before the time limit', async () => {
    const deployment = await deploymentWithPod({ overrides: { faults: { stallAfterBytes: STALL_AFTER_BYTES } } });
    const settings = { ...harness.deps.settings, timeoutMs: LONG_TIMEOUT_MS, stallMs: SHORT_STALL_MS };

    const started = Date.now();
    const record = await expectCleanFailure(
      await backUp(deployment, { ...harness.deps, settings }),
      deployment,
      'Stalled',
    );

    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(SHORT_STALL_MS);
    expect(elapsed).toBeLessThan(LONG_TIMEOUT_MS / 3);
    expect(record.error).toContain(
      `received no data for ${SHORT_STALL_MS} ms (${STALL_AFTER_BYTES} bytes received); it was stopped as stalled`,
    );
    await expect(exitOf(execOf(deployment))).resolves.toMatchObject({ signal: 'SIGKILL' });
  });

  it('does not count time spent waiting for a slow disk as a stall', async () => {
    const deployment = await deploymentWithPod();
    const store = createFileBackupStore({
      root: harness.root,
      logger: harness.deps.logger,
      createSink: slowSink(SLOW_DISK_STALL_MS * 3),
    });
    const settings = { ...harness.deps.settings, timeoutMs: LONG_TIMEOUT_MS, stallMs: SLOW_DISK_STALL_MS };

    const outcome = await backUp(deployment, { ...harness.deps, store, settings });

    expect(outcome.status === 'FAILED' ? outcome.record.error : null).toBeNull();
    expect(outcome.status).toBe('SUCCEEDED');
  });

  it('records an abort whose reason is a BackupInterruptedError as Interrupted', async () => {
    const deployment = await deploymentWithPod({ overrides: { faults: { stallAfterBytes: STALL_AFTER_BYTES } } });
    const controller = new AbortController();

    const running = backUp(deployment, harness.deps, controller.signal);
    const exec = await waitUntil('the exec to have sent its bytes', () =>
      harness.kube.execs.find(
        (candidate) => candidate.pod === `${deployment.name}-0` && candidate.transferred.stdout === STALL_AFTER_BYTES,
      ),
    );
    controller.abort(new BackupInterruptedError('Interrupted', 'interrupted: the worker is shutting down'));
    const record = await expectCleanFailure(await running, deployment, 'Interrupted');

    expect(record.error).toBe('interrupted: the worker is shutting down');
    await expect(exitOf(exec)).resolves.toMatchObject({ signal: 'SIGKILL' });
  });
});

describe('secrets', () => {
  /** Everything a person or a log collector can see about this test's backups. */
  async function everythingVisible(outcomes: BackupOutcome[]): Promise<string> {
    const db = harness.db.prisma;
    return [
      harness.logs(),
      toSearchableJson(outcomes),
      toSearchableJson(await db.backupRecord.findMany()),
      toSearchableJson(await db.alert.findMany()),
    ].join('\n');
  }

  it('never shows the container password: not in the record, the alert, the outcome or the logs, on success or failure', async () => {
    // pg_dump prints the database and role names it could not find, so a secret inside them reaches stderr for real.
    const succeeding = await deploymentWithPod({});
    const badDatabase = await deploymentWithPod({ env: { POSTGRES_DB: `x-${SECRET}` } });
    const badRole = await deploymentWithPod({ env: { POSTGRES_USER: `u-${SECRET}` } });

    const outcomes = [await backUp(succeeding), await backUp(badDatabase), await backUp(badRole)];

    expect(outcomes[0]!.status).toBe('SUCCEEDED');
    const databaseFailure = await expectCleanFailure(outcomes[1]!, badDatabase, 'ExecFailed');
    const roleFailure = await expectCleanFailure(outcomes[2]!, badRole, 'ExecFailed');
    expect(databaseFailure.stderrTail).toContain('database "x-[REDACTED]" does not exist');
    expect(databaseFailure.error).toContain('database "x-[REDACTED]" does not exist');
    expect(roleFailure.stderrTail).toContain('role "u-[REDACTED]" does not exist');
    const alert = await harness.db.prisma.alert.findFirstOrThrow({ where: { deploymentId: badDatabase.id } });
    expect(alert.message).toContain('database "x-[REDACTED]" does not exist');
    expect(harness.logs()).toContain('[REDACTED]');
    expect(await everythingVisible(outcomes)).not.toContain(SECRET);
  });
});

describe('backups that must not run', () => {
  async function expectRefused(outcome: BackupOutcome, deploymentId: string, code: string): Promise<string> {
    expect(outcome).toMatchObject({ status: 'SKIPPED', code });
    expect(await harness.db.prisma.backupRecord.count({ where: { deploymentId } })).toBe(0);
    return outcome.status === 'SKIPPED' ? outcome.reason : '';
  }

  it('refuses a FAILED deployment, because its data may be corrupt', async () => {
    const deployment = await deploymentWithPod({}, { status: 'FAILED' });

    const reason = await expectRefused(await backUp(deployment), deployment.id, 'DEPLOYMENT_NOT_RUNNING');

    expect(reason).toContain('corrupt data');
    expect(harness.kube.execs.some((exec) => exec.pod === `${deployment.name}-0`)).toBe(false);
  });

  it('refuses a recipe without dataExport', async () => {
    const deployment = await deploymentWithPod(null, { recipeSlug: 'nginx' });

    const reason = await expectRefused(await backUp(deployment), deployment.id, 'NO_DATA_EXPORT');

    expect(reason).toBe('recipe "nginx" has no dataExport: there is no data to back up');
  });

  it('refuses an unknown deployment id', async () => {
    const outcome = await executeBackup(harness.deps, 'cnotadeployment000000000', { trigger: 'MANUAL' });

    expect(outcome).toEqual({
      status: 'SKIPPED',
      code: 'NOT_FOUND',
      reason: 'deployment "cnotadeployment000000000" does not exist',
    });
  });

  it('refuses a scheduled backup when backups are off, but runs a manual one', async () => {
    const deployment = await deploymentWithPod({}, { backupEnabled: false });

    await expectRefused(
      await executeBackup(harness.deps, deployment.id, { trigger: 'SCHEDULE' }),
      deployment.id,
      'BACKUPS_DISABLED',
    );
    const manual = await backUp(deployment);

    expect(manual).toMatchObject({ status: 'SUCCEEDED', record: { trigger: 'MANUAL' } });
  });
});

describe('one backup per deployment at a time', () => {
  /**
   * Starts `calls` backups while a real table lock holds back new BackupRecord rows (a slow database; reads still
   * work), and releases it once one insert waits for it and every other call has finished or waits as well: the
   * callers that lose the claim then look for the running record while the winner is still inserting it.
   */
  async function backUpAtOnceWithSlowInserts(deployment: Deployment, calls: number): Promise<BackupOutcome[]> {
    const lockHolder = new pg.Client({ connectionString: harness.db.url });
    // Watches from outside the lock's transaction, which would see one frozen snapshot of pg_stat_activity.
    const observer = new pg.Client({ connectionString: harness.db.url });
    await Promise.all([lockHolder.connect(), observer.connect()]);
    const { rows: holder } = await lockHolder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    await lockHolder.query('BEGIN; LOCK TABLE "BackupRecord" IN SHARE MODE');
    let settled = 0;
    const running = Array.from({ length: calls }, () => backUp(deployment).finally(() => (settled += 1)));
    try {
      await waitUntil('one record insert to wait for the lock and every other call to finish or wait', async () => {
        const { rows } = await observer.query<{ blockedByLock: number; waiting: number }>(
          `SELECT count(*) FILTER (WHERE $1::int = ANY(pg_blocking_pids(pid)))::int AS "blockedByLock", count(*)::int AS waiting
           FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
          [holder[0]!.pid],
        );
        const { blockedByLock, waiting } = rows[0]!;
        return blockedByLock === 1 && settled + waiting === calls;
      });
    } finally {
      await lockHolder.query('COMMIT');
      await Promise.all([lockHolder.end(), observer.end()]);
    }
    return Promise.all(running);
  }

  it('runs one of several simultaneous backups and skips the others with the running record, then runs again', async () => {
    const deployment = await deploymentWithPod({ overrides: { faults: { delayStatusMs: SLOW_STATUS_MS } } });

    const outcomes = await backUpAtOnceWithSlowInserts(deployment, SIMULTANEOUS_BACKUPS);

    const succeeded = outcomes.flatMap((outcome) => (outcome.status === 'SUCCEEDED' ? [outcome.record] : []));
    const skipped = outcomes.filter((outcome) => outcome.status === 'SKIPPED');
    expect(succeeded).toHaveLength(1);
    expect(skipped).toHaveLength(SIMULTANEOUS_BACKUPS - 1);
    for (const outcome of skipped) {
      expect(outcome).toMatchObject({
        code: 'ALREADY_RUNNING',
        runningRecord: { id: succeeded[0]!.id, status: 'RUNNING' },
      });
    }
    expect(await harness.db.prisma.backupRecord.count({ where: { deploymentId: deployment.id } })).toBe(1);

    const next = await backUp(deployment);

    expect(next.status).toBe('SUCCEEDED');
    expect(
      await harness.db.prisma.backupRecord.count({ where: { deploymentId: deployment.id, status: 'SUCCEEDED' } }),
    ).toBe(2);
  });
});

describe('a successful backup after a failure', () => {
  it('resolves the open alert, sets lastBackupAt and leaves a file that sha256sum -c accepts', async () => {
    const deployment = await deploymentWithPod(null);
    const failed = await expectCleanFailure(await backUp(deployment), deployment, 'PodNotFound');
    harness.kube.pods.push(podFor(deployment.name, 'postgres', postgresEnv()));

    const outcome = await backUp(deployment);

    expect(outcome.status).toBe('SUCCEEDED');
    if (outcome.status === 'SKIPPED') throw new Error('unreachable');
    const { record } = outcome;
    const alert = await harness.db.prisma.alert.findFirstOrThrow({ where: { deploymentId: deployment.id } });
    // Retention runs after every successful backup: a failed attempt older than the oldest kept success goes (its
    // alert stays, resolved, no longer pointing at a record).
    expect(await harness.db.prisma.backupRecord.findUnique({ where: { id: failed.id } })).toBeNull();
    expect(alert).toMatchObject({ backupRecordId: null, kind: 'backup_failed' });
    expect(alert.resolvedAt).toEqual(record.finishedAt);
    const after = await harness.db.prisma.deployment.findUniqueOrThrow({ where: { id: deployment.id } });
    expect(after.lastBackupAt).toEqual(record.startedAt);
    expect(after).toMatchObject({ backupClaimToken: null, backupClaimExpiresAt: null });
    const fileName = record.path!.split('/').at(-1)!;
    expect(await filesUnder(folderOf(harness.root, deployment))).toEqual([
      fileName,
      `${fileName}.json`,
      `${fileName}.sha256`,
    ]);
    expect(await hashFile(record.path!)).toEqual({ sha256: record.sha256, sizeBytes: record.sizeBytes });
    // The manifest beside the file says what it is without the database.
    expect(await readManifest(record.path!)).toEqual({
      manifestVersion: 1,
      recordId: record.id,
      workspaceId,
      workspaceSlug: expect.any(String),
      deploymentId: deployment.id,
      deploymentName: deployment.name,
      namespace: 'apps',
      recipeSlug: 'postgresql',
      format: 'postgres-custom',
      fileName,
      extension: 'dump',
      compression: 'none',
      encryptionRecipient: null,
      sizeBytes: String(record.sizeBytes),
      rawBytes: String(record.progressBytes),
      sha256: record.sha256,
      // Read from the dump's own header: the server that was dumped (the local one here).
      engineVersion: `PostgreSQL ${(await adminQuery('SHOW server_version')).rows[0].server_version}`,
      trigger: 'MANUAL',
      startedAt: record.startedAt.toISOString(),
      finishedAt: record.finishedAt!.toISOString(),
      suspicious: false,
      suspiciousReason: null,
    });
    // The faults above cut this same dump short: it is bigger than every threshold they use.
    expect(record.sizeBytes! > BigInt(STALL_AFTER_BYTES)).toBe(true);
    const check = await execFileAsync('sha256sum', ['-c', `${fileName}.sha256`], {
      cwd: folderOf(harness.root, deployment),
    });
    expect(check.stdout).toBe(`${fileName}: OK\n`);
    const { stdout: listing } = await execFileAsync('pg_restore', ['--list', record.path!]);
    expect(listing).toContain('TABLE public items');
  });
});
