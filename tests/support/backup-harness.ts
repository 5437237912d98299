import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createKubeClients } from '../../src/lib/kube/kube-clients.ts';
import { createLogger } from '../../src/lib/shared/logger.ts';
import type { BackupDependencies } from '../../src/lib/backups/backup.ts';
import { createFileBackupStore, type CreateFileSink } from '../../src/lib/storage/backup-store.ts';
import { openJobQueue, type JobQueue } from '../../src/lib/jobs/index.ts';
import { startJobRunners, type LoopDependencies } from '../../src/lib/worker/index.ts';
import { findRecipe } from '../../src/lib/recipes/registry.ts';
import { startFakeKubeApi, type ExecRecord, type FakeKubeApi, type FakePod, type FakeRbac } from './fake-kube-api.ts';
import { renderedWorkerRbac } from './kubernetes-manifests.ts';
import { createTestDatabase, type TestDatabase } from './test-database.ts';

// Where the stories that use the harness have always taken it from.
export { podFor } from './fake-kube-api.ts';

/**
 * Everything a backup needs, made of real parts: a cloned PostgreSQL database for the records, the fake Kubernetes
 * API server (real exec protocol, commands run as local processes) enforcing exactly the RBAC rules that
 * deploy/kubernetes renders for the worker (granted in the namespace `apps`), a backup root in a temporary folder,
 * and a logger whose lines are kept so tests can check what was logged.
 */
export interface BackupHarness {
  db: TestDatabase;
  kube: FakeKubeApi;
  root: string;
  deps: BackupDependencies;
  /** Every log line written so far (JSON text). */
  logs(): string;
  /** The durable job queue on the harness's database (opened on first use, as a worker: it runs jobs). */
  jobs(): Promise<JobQueue>;
  /** Runs the worker's job runners on the harness, as a worker process does, until `close` (or `jobs().pause()`). */
  runJobs(options?: { concurrency?: number }): Promise<void>;
  /** The worker loop's dependencies over the harness: its backup dependencies and its job queue. */
  loop(overrides?: Partial<Omit<LoopDependencies, 'jobs'>>): Promise<LoopDependencies>;
  close(): Promise<void>;
}

/** Job settings for tests: the shortest heartbeat pg-boss allows, and quick polls and monitor passes. */
export const TEST_JOB_SETTINGS = {
  heartbeatSeconds: 10,
  monitorSeconds: 1,
  pollSeconds: 0.5,
  backupTimeoutSeconds: 600,
};

export interface BackupHarnessOptions {
  pods?: FakePod[];
  createSink?: CreateFileSink;
  timeoutMs?: number;
  claimTtlMs?: number;
  clock?: () => Date;
  /** The fake's RBAC mode; default: the worker's rendered rules (`renderedWorkerRbac`). */
  rbac?: FakeRbac;
}

export async function startBackupHarness(options: BackupHarnessOptions = {}): Promise<BackupHarness> {
  const db = await createTestDatabase();
  const kube = await startFakeKubeApi({ pods: options.pods ?? [], rbac: options.rbac ?? (await renderedWorkerRbac()) });
  const root = await mkdtemp(path.join(os.tmpdir(), 'backups-'));
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, callback) {
      lines.push(String(chunk));
      callback();
    },
  });
  const logger = createLogger({ level: 'debug', destination });
  const deps: BackupDependencies = {
    db: db.prisma,
    kube: createKubeClients(kube.kubeConfig()),
    store: createFileBackupStore({ root, logger, ...(options.createSink ? { createSink: options.createSink } : {}) }),
    clock: options.clock ?? (() => new Date()),
    logger,
    settings: { timeoutMs: options.timeoutMs ?? 60_000, claimTtlMs: options.claimTtlMs ?? 60_000 },
  };
  let jobs: Promise<JobQueue> | null = null;
  const openJobs = () =>
    (jobs ??= openJobQueue({
      connection: { kind: 'postgres', url: db.url },
      logger,
      role: 'worker',
      settings: TEST_JOB_SETTINGS,
    }));
  return {
    db,
    kube,
    root,
    deps,
    logs: () => lines.join(''),
    jobs: openJobs,
    async runJobs(runOptions = {}) {
      await startJobRunners(
        { backup: deps, jobs: await openJobs(), logger, settings: { concurrency: runOptions.concurrency ?? 2 } },
        { abortRunning: new AbortController().signal },
      );
    },
    async loop(overrides = {}) {
      return {
        backup: deps,
        logger,
        settings: { concurrency: 2, overdueGraceMs: 3_600_000, retryDelayMs: 3_600_000 },
        agent: null,
        ...overrides,
        jobs: await openJobs(),
      };
    },
    async close() {
      if (jobs) await (await jobs).stop({ graceful: true, timeoutMs: 10_000 });
      await kube.close();
      await db.drop();
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** The execs that ran the export of `recipeSlug`, leaving out the live table count each backup runs just before it. */
export function exportExecs(execs: readonly ExecRecord[], recipeSlug = 'postgresql'): ExecRecord[] {
  const command = findRecipe(recipeSlug)!.dataExport!.command.join('\0');
  return execs.filter((exec) => exec.argv.join('\0') === command);
}
