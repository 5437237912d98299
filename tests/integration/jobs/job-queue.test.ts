import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openJobQueue, type JobQueue } from '../../../src/lib/jobs/index.ts';
import { createLogger } from '../../../src/lib/shared/logger.ts';
import { TEST_JOB_SETTINGS } from '../../support/backup-harness.ts';
import { createTestDatabase, type TestDatabase } from '../../support/test-database.ts';

/**
 * The job queue on the real PostgreSQL (pg-boss in its own schema): one waiting job per key, jobs that exist only if
 * the transaction that sent them commits, data checked on the way in and on the way out, and counts read from the
 * jobs themselves.
 */
let database: TestDatabase;
let jobs: JobQueue;
const logger = createLogger({ level: 'silent' });

beforeAll(async () => {
  database = await createTestDatabase();
  jobs = await openJobQueue({
    connection: { kind: 'postgres', url: database.url },
    logger,
    role: 'worker',
    settings: TEST_JOB_SETTINGS,
  });
});
afterAll(async () => {
  await jobs.stop({ graceful: false, timeoutMs: 1_000 });
  await database.drop();
});

const backupOf = (deploymentId: string) => ({ deploymentId, trigger: 'API' as const, requestedBy: 'test' });

describe('job queue', () => {
  it('keeps one waiting backup per deployment: a repeat is dropped and the first one is found', async () => {
    const first = await jobs.enqueue('backup', backupOf('deploymentone'));
    expect(first).toMatch(/^[0-9a-f-]{36}$/);
    expect(await jobs.enqueue('backup', backupOf('deploymentone'))).toBeNull();
    expect(await jobs.enqueue('backup', backupOf('deploymenttwo'))).not.toBeNull();
    expect(await jobs.findPending('backup', backupOf('deploymentone'))).toMatchObject({
      id: first,
      name: 'backup',
      state: 'queued',
      attempts: 0,
    });
    const stats = await jobs.stats();
    expect(stats.find((queue) => queue.name === 'backup')).toMatchObject({ ready: 2, running: 0 });
    expect(
      (await jobs.stats({ deploymentIds: ['deploymentone'] })).find((queue) => queue.name === 'backup'),
    ).toMatchObject({ ready: 1 });
    expect(await jobs.enqueueMany('backup', [backupOf('deploymentone'), backupOf('deploymentthree')])).toBe(1);
  });

  it('sends a job inside a transaction: it exists only if the transaction commits', async () => {
    await expect(
      database.prisma.$transaction(async (transaction) => {
        await jobs.enqueue('restore', { restoreId: 'rolledback' }, { transaction });
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect(await jobs.findPending('restore', { restoreId: 'rolledback' })).toBeNull();
    const committed = await database.prisma.$transaction((transaction) =>
      jobs.enqueue('restore', { restoreId: 'committed' }, { transaction }),
    );
    expect((await jobs.findPending('restore', { restoreId: 'committed' }))?.id).toBe(committed);
  });

  it('refuses data that does not fit its queue before sending, naming the field', async () => {
    await expect(jobs.enqueue('backup', { ...backupOf('x'), deploymentId: '../etc' })).rejects.toThrow(
      /must be a deployment id/,
    );
    await expect(jobs.enqueue('upload', { backupId: 'UPPER' } as never)).rejects.toThrow(/must be a backup id/);
  });

  it('runs a job with its data and records what the handler returned; waitForJob sees it end', async () => {
    const seen: unknown[] = [];
    await jobs.work('testRestore', { concurrency: 1 }, async (job) => {
      seen.push({ data: job.data, attempt: job.attempt });
      return { outcome: 'clean' };
    });
    const id = await jobs.enqueue('testRestore', { deploymentId: 'deploymenttr' });
    const ended = await jobs.waitForJob('testRestore', id!, { timeoutMs: 20_000 });
    expect(ended).toMatchObject({ state: 'succeeded', output: { outcome: 'clean' }, attempts: 1 });
    expect(seen).toEqual([{ data: { deploymentId: 'deploymenttr' }, attempt: 0 }]);
  });

  it('cancels a job nobody took within the wait, so it never runs late', async () => {
    const id = await jobs.enqueue('restorePlan', {
      action: 'approve',
      restoreId: 'nobodyanswers',
      approvedBy: 'test',
      tokenHash: 'a'.repeat(64),
      expiresAt: new Date().toISOString(),
    });
    const ended = await jobs.waitForJob('restorePlan', id!, { timeoutMs: 300 });
    expect(ended?.state).toBe('cancelled');
  });

  it('waitUntilIdle returns once nothing is ready or running', async () => {
    await jobs.work('upload', { concurrency: 1 }, async () => {
      await sleep(300);
      return { uploaded: 0 };
    });
    await jobs.enqueue('upload', {});
    await jobs.waitUntilIdle({ names: ['upload'] });
    expect((await jobs.stats()).find((queue) => queue.name === 'upload')).toMatchObject({ ready: 0, running: 0 });
  });
});
