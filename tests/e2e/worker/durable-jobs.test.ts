import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Deployment } from '../../../src/generated/prisma/client.ts';
import { executeBackup } from '../../../src/lib/backups/backup.ts';
import { planLiveRestore } from '../../../src/lib/restore/restore-backup.ts';
import { queueLiveRestore } from '../../../src/lib/restore/queued-restore.ts';
import { createS3Destination } from '../../../src/lib/offsite/s3-destination.ts';
import { podFor, startBackupHarness, type BackupHarness } from '../../support/backup-harness.ts';
import type { ExecFaults } from '../../support/fake-kube-api.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';
import { makePostgresBackup } from '../../support/offsite-backups.ts';
import { createDatabase, databaseUrl, dropDatabase, uniqueDatabaseName } from '../../support/postgres.ts';
import { childEnvironment, startEntryPoint, type RunningProcess } from '../../support/processes.ts';
import { S3RVER_CREDENTIALS, startFaultyProxy, startS3Server } from '../../support/s3-server.ts';

/**
 * Durable jobs with real worker processes (`src/worker.ts`), killed with SIGKILL at the worst moment: the queued job
 * survives in PostgreSQL, the next worker retries what is safe to retry (a backup, an upload) and fails what is not
 * (a live restore interrupted midway, with a critical alert), and nothing stays RUNNING. Several workers share the
 * work and never run one job twice.
 */
const ROWS = 2_000;
/** A dump or restore whose exit status is held this long is still RUNNING when its worker is killed. */
const HELD_MS = 600_000;
/** Heartbeats of 10 s (pg-boss's shortest), a lost worker's leases of 30 s (the shortest claim): a retry within ~1 min. */
const FAST_JOBS = {
  JOB_HEARTBEAT_SECONDS: '10',
  JOB_MONITOR_SECONDS: '1',
  JOB_POLL_SECONDS: '1',
  BACKUP_CLAIM_TTL_SECONDS: '30',
  WORKER_INTERVAL_SECONDS: '5',
  SHUTDOWN_GRACE_SECONDS: '1',
};
const RETRY_WITHIN_MS = 150_000;
const UPLOAD_MIB = 8;

let source: string;
let harness: BackupHarness;
let workspaceId: string;
let workers: RunningProcess[] = [];

beforeAll(async () => {
  source = await createDatabase(uniqueDatabaseName('ops_test_jobs_src'));
  const client = new pg.Client({ connectionString: databaseUrl(source) });
  await client.connect();
  await client.query(`CREATE TABLE items AS SELECT g AS id, 'item ' || g AS name FROM generate_series(1, ${ROWS}) g`);
  await client.end();
});
afterAll(async () => {
  await dropDatabase(source);
});
beforeEach(async () => {
  harness = await startBackupHarness();
  workspaceId = (await createWorkspace(harness.db.prisma)).id;
});
afterEach(async () => {
  for (const worker of workers) worker.child.kill('SIGKILL');
  await Promise.all(workers.map((worker) => worker.exited));
  workers = [];
  await harness.close();
});

function startWorker(extra: Record<string, string> = {}): RunningProcess {
  const worker = startEntryPoint(
    'src/worker.ts',
    [],
    childEnvironment({
      DATABASE_URL: harness.db.url,
      KUBECONFIG: harness.kube.kubeconfigPath,
      BACKUP_ROOT: harness.root,
      LOG_LEVEL: 'info',
      ...FAST_JOBS,
      ...extra,
    }),
  );
  workers.push(worker);
  return worker;
}

async function kill(worker: RunningProcess): Promise<void> {
  worker.child.kill('SIGKILL');
  await worker.exited;
}

/** Polls `read` until it returns something, failing after `timeoutMs`. */
async function waitFor<T>(what: string, read: () => Promise<T | null | undefined>, timeoutMs = RETRY_WITHIN_MS) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(250);
  }
}

function deploymentWithPod(name: string, faults?: ExecFaults, fields: Partial<Deployment> = {}) {
  const env = { PGHOST: '127.0.0.1', POSTGRES_USER: 'postgres', POSTGRES_DB: source };
  harness.kube.pods.push(podFor(name, 'postgres', env, faults ? { faults } : {}));
  return createDeployment(harness.db.prisma, workspaceId, { name, ...fields });
}

const podOf = (name: string) => harness.kube.pods.find((pod) => pod.name === `${name}-0`)!;

describe('a worker killed mid-way', { timeout: 4 * 60_000 }, () => {
  it('mid-backup: another worker retries the job and the backup is made once', async () => {
    const deployment = await deploymentWithPod('pg-kill', { delayStatusMs: HELD_MS });
    const jobs = await harness.jobs();
    const jobId = await jobs.enqueue('backup', { deploymentId: deployment.id, trigger: 'API', requestedBy: 'test' });

    const first = startWorker();
    const interrupted = await waitFor('the first attempt to run', () =>
      harness.db.prisma.backupRecord.findFirst({ where: { deploymentId: deployment.id, status: 'RUNNING' } }),
    );
    expect(interrupted.jobId).toBe(jobId);
    await kill(first);
    delete podOf('pg-kill').faults;

    startWorker();
    const made = await waitFor('the retried backup', () =>
      harness.db.prisma.backupRecord.findFirst({ where: { deploymentId: deployment.id, status: 'SUCCEEDED' } }),
    );
    expect(made).toMatchObject({ jobId, trigger: 'API' });
    // The killed attempt is no backup: crash recovery marks it FAILED "Interrupted" with a critical alert. Retention
    // after the retried backup may already have dropped that failed record (an older failure than the newest success);
    // the alert stays either way.
    const alert = await waitFor('the killed attempt to be recovered', () =>
      harness.db.prisma.alert.findFirst({
        where: { deploymentId: deployment.id, kind: 'backup_failed', message: { contains: 'interrupted' } },
      }),
    );
    expect(alert.severity).toBe('CRITICAL');
    const killed = await harness.db.prisma.backupRecord.findUnique({ where: { id: interrupted.id } });
    if (killed) expect(killed).toMatchObject({ status: 'FAILED', errorKind: 'Interrupted' });
    const records = await harness.db.prisma.backupRecord.findMany({ where: { deploymentId: deployment.id } });
    expect(records.map((record) => record.id).sort()).toEqual(killed ? [interrupted.id, made.id].sort() : [made.id]);
    const job = await waitFor('the job to end', async () => {
      const current = await jobs.getJob('backup', jobId!);
      return current?.state === 'succeeded' ? current : null;
    });
    expect(job.attempts).toBeGreaterThanOrEqual(2);
  });

  it('mid-restore: the record ends FAILED with a critical alert, and no second restore starts by itself', async () => {
    const deployment = await deploymentWithPod('pg-live');
    const backup = await executeBackup(harness.deps, deployment.id, { trigger: 'MANUAL' });
    if (backup.status !== 'SUCCEEDED') throw new Error(`the backup to restore did not succeed: ${backup.status}`);
    const planned = await planLiveRestore(harness.deps, backup.record.id, {
      requestedBy: 'test',
      trigger: 'MANUAL',
      now: new Date(),
    });
    // pg_restore runs, but the exec's exit status is held: the restore is RUNNING when its worker dies.
    podOf('pg-live').faults = { delayStatusMs: HELD_MS };
    const queued = await queueLiveRestore(harness.deps, await harness.jobs(), {
      restoreId: planned.restore.id,
      confirmToken: planned.confirmToken,
      confirmedBy: 'test',
    });
    expect(queued.status).toBe('QUEUED');

    const first = startWorker();
    await waitFor('the restore to run', () =>
      harness.db.prisma.restoreRecord.findFirst({ where: { id: queued.id, status: 'RUNNING' } }),
    );
    await kill(first);
    delete podOf('pg-live').faults;

    const second = startWorker();
    const failed = await waitFor('the interrupted restore to be failed', () =>
      harness.db.prisma.restoreRecord.findFirst({ where: { id: queued.id, status: 'FAILED' } }),
    );
    expect(failed.errorKind).toBe('Interrupted');
    expect(failed.error).toContain('pg_restore ran in one transaction');
    const alert = await harness.db.prisma.alert.findFirstOrThrow({
      where: { deploymentId: deployment.id, kind: 'restore_failed', resolvedAt: null },
    });
    expect(alert.severity).toBe('CRITICAL');
    expect(alert.message).toContain('interrupted');
    // The job is settled and no restore ran again: the second worker's log has no restore started.
    await waitFor('the restore job to settle', async () => {
      const job = await (await harness.jobs()).getJob('restore', queued.jobId!);
      return job && ['succeeded', 'failed'].includes(job.state) ? job : null;
    });
    await sleep(2_000);
    expect(second.output()).not.toContain('live restore started');
    expect(await harness.db.prisma.restoreRecord.count({ where: { deploymentId: deployment.id } })).toBe(1);
  });

  it('a restore CLI killed mid-restore: the next worker’s recovery fails it, with the alert', async () => {
    const deployment = await deploymentWithPod('pg-cli');
    const backup = await executeBackup(harness.deps, deployment.id, { trigger: 'MANUAL' });
    if (backup.status !== 'SUCCEEDED') throw new Error(`the backup to restore did not succeed: ${backup.status}`);
    const planned = await planLiveRestore(harness.deps, backup.record.id, {
      requestedBy: 'test',
      trigger: 'MANUAL',
      now: new Date(),
    });
    podOf('pg-cli').faults = { delayStatusMs: HELD_MS };
    const cli = startEntryPoint(
      'src/cli/restore.ts',
      ['confirm', planned.restore.id, '--token', planned.confirmToken],
      childEnvironment({
        DATABASE_URL: harness.db.url,
        KUBECONFIG: harness.kube.kubeconfigPath,
        BACKUP_ROOT: harness.root,
        ...FAST_JOBS,
      }),
    );
    workers.push(cli);
    await waitFor('the CLI’s restore to run', () =>
      harness.db.prisma.restoreRecord.findFirst({ where: { id: planned.restore.id, status: 'RUNNING' } }),
    );
    await kill(cli);
    delete podOf('pg-cli').faults;

    startWorker();
    const failed = await waitFor('crash recovery to fail the restore', () =>
      harness.db.prisma.restoreRecord.findFirst({ where: { id: planned.restore.id, status: 'FAILED' } }),
    );
    expect(failed).toMatchObject({ errorKind: 'Interrupted' });
    expect(failed.error).toContain('the process running it stopped');
    // The alert is raised right after the record turns FAILED (a separate statement): wait for it, then count it.
    await waitFor(
      'the restore_failed alert',
      async () =>
        (await harness.db.prisma.alert.count({
          where: { deploymentId: deployment.id, kind: 'restore_failed', severity: 'CRITICAL' },
        })) > 0,
    );
    expect(
      await harness.db.prisma.alert.count({
        where: { deploymentId: deployment.id, kind: 'restore_failed', severity: 'CRITICAL' },
      }),
    ).toBe(1);
  });

  it('mid-upload: another worker uploads the copy, once', async () => {
    const s3 = await startS3Server();
    const proxy = await startFaultyProxy(s3.port);
    try {
      const backup = await makePostgresBackup(harness, workspaceId, 'pg-upload', { randomMiB: UPLOAD_MIB });
      const s3Environment = {
        S3_BUCKET: s3.bucket,
        S3_ENDPOINT: proxy.endpoint,
        S3_PREFIX: 'jobs',
        S3_FORCE_PATH_STYLE: 'true',
        S3_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
        S3_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
      };
      proxy.holdAfter(1024 * 1024);
      const jobs = await harness.jobs();
      await jobs.enqueue('upload', { backupId: backup.id });

      const first = startWorker(s3Environment);
      await waitFor('the upload to start', async () => proxy.forwardedBytes() >= 1024 * 1024);
      await kill(first);
      proxy.recover();

      startWorker(s3Environment);
      const uploaded = await waitFor('the copy to be uploaded', () =>
        harness.db.prisma.backupUpload.findFirst({ where: { backupRecordId: backup.id, status: 'UPLOADED' } }),
      );
      expect(await harness.db.prisma.backupUpload.count({ where: { backupRecordId: backup.id } })).toBe(1);
      // One object, holding exactly the backup's bytes, and its manifest beside it.
      const destination = createS3Destination(s3.settings({ prefix: 'jobs' }));
      const keys: string[] = [];
      for await (const object of destination.list(`${destination.keyPrefix}/`)) keys.push(object.key);
      expect(keys).toEqual([uploaded.objectKey, `${uploaded.objectKey}.json`]);
      const hash = createHash('sha256');
      for await (const chunk of await destination.download(uploaded.objectKey)) hash.update(chunk as Buffer);
      expect(hash.digest('hex')).toBe(backup.sha256);
    } finally {
      await proxy.close();
      await s3.close();
    }
  });
});

describe.each([2, 3])('%i workers with many due backups', { timeout: 3 * 60_000 }, (count) => {
  it('run each backup once, and every worker takes a share', async () => {
    const deployments: Deployment[] = [];
    for (let index = 0; index < 3 * count; index += 1) {
      // Never backed up and scheduled daily: all due at once. Each dump's status is held a moment, so one worker
      // (one backup at a time here) cannot take them all.
      deployments.push(
        await deploymentWithPod(
          `pg-many-${index}`,
          { delayStatusMs: 1_500 },
          { backupEnabled: true, backupSchedule: '0 3 * * *' },
        ),
      );
    }
    const started = Array.from({ length: count }, () => startWorker({ BACKUP_CONCURRENCY: '1' }));

    const sharesOf = () => started.map((worker) => worker.output().match(/"msg":"backup succeeded"/g)?.length ?? 0);
    await waitFor('every backup', async () => {
      const done = await harness.db.prisma.backupRecord.count({ where: { status: 'SUCCEEDED' } });
      return done === deployments.length;
    });
    // A worker logs "backup succeeded" just after the record commits: on a busy machine the last line can lag the
    // database, so the logs are waited for before the workers are killed (a line never written fails the wait).
    await waitFor(
      'every worker to log its backups',
      async () => sharesOf().reduce((sum, share) => sum + share, 0) >= deployments.length,
    );
    for (const worker of started) await kill(worker);
    const records = await harness.db.prisma.backupRecord.findMany();
    expect(records).toHaveLength(deployments.length);
    expect(new Set(records.map((record) => record.deploymentId)).size).toBe(deployments.length);
    const shares = sharesOf();
    expect(shares.reduce((sum, share) => sum + share, 0)).toBe(deployments.length);
    for (const share of shares) expect(share).toBeGreaterThanOrEqual(1);
  });
});
