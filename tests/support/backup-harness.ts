import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createKubeClients } from '../../src/lib/kube/kube-clients.ts';
import { createLogger } from '../../src/lib/shared/logger.ts';
import type { BackupDependencies } from '../../src/lib/backups/backup.ts';
import { createFileBackupStore, type CreateFileSink } from '../../src/lib/storage/backup-store.ts';
import { startFakeKubeApi, type FakeKubeApi, type FakePod, type FakeRbac } from './fake-kube-api.ts';
import { renderedWorkerRbac } from './kubernetes-manifests.ts';
import { createTestDatabase, type TestDatabase } from './test-database.ts';

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
  close(): Promise<void>;
}

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
  return {
    db,
    kube,
    root,
    deps,
    logs: () => lines.join(''),
    async close() {
      await kube.close();
      await db.drop();
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** A Running pod with one ready container, labelled the way the default pod selector finds `deploymentName`. */
export function podFor(
  deploymentName: string,
  container: string,
  env: Record<string, string>,
  overrides: Partial<FakePod> = {},
): FakePod {
  return {
    namespace: 'apps',
    name: `${deploymentName}-0`,
    labels: { 'app.kubernetes.io/instance': deploymentName },
    phase: 'Running',
    containers: [{ name: container, ready: true, env }],
    ...overrides,
  };
}
