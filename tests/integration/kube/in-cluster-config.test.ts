import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeBackup } from '../../../src/lib/backups/index.ts';
import { createKubeClients, loadKubeConfig } from '../../../src/lib/kube/index.ts';
import { podFor, startBackupHarness, type BackupHarness } from '../../support/backup-harness.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';
import { createDatabase, databaseUrl, dropDatabase, uniqueDatabaseName } from '../../support/postgres.ts';
import { SERVICE_ACCOUNT_PATH, writeServiceAccountFiles } from '../../support/service-account-files.ts';

/**
 * In a pod, with no KUBECONFIG, the worker takes the API server from KUBERNETES_SERVICE_HOST/PORT and its credentials
 * from the service-account files: here they are laid out under a temporary folder (KUBE_SERVICE_ACCOUNT_ROOT) for
 * the fake API server, which enforces the worker's rendered RBAC rules.
 */
let harness: BackupHarness;
let root: string;
let source: string;
const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };

beforeAll(async () => {
  source = await createDatabase(uniqueDatabaseName('ops_test_in_cluster'));
  const client = new pg.Client({ connectionString: databaseUrl(source) });
  await client.connect();
  await client.query('CREATE TABLE items AS SELECT g AS id FROM generate_series(1, 100) g');
  await client.end();
  harness = await startBackupHarness({
    pods: [podFor('pod-db', 'postgres', { PGHOST: '127.0.0.1', POSTGRES_USER: 'postgres', POSTGRES_DB: source })],
  });
  root = await mkdtemp(path.join(os.tmpdir(), 'pod-root-'));
  Object.assign(process.env, await writeServiceAccountFiles(root, harness.kube));
});
afterAll(async () => {
  for (const [key, value] of [
    ['KUBERNETES_SERVICE_HOST', saved.host],
    ['KUBERNETES_SERVICE_PORT', saved.port],
  ] as const) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  await harness.close();
  await rm(root, { recursive: true, force: true });
  await dropDatabase(source);
});

describe('in-cluster configuration', () => {
  it("reads the pod's service account: the API server from the environment, the CA and token from the files", () => {
    const kubeConfig = loadKubeConfig({ serviceAccountRoot: root });
    expect(kubeConfig.getCurrentCluster()).toMatchObject({
      server: harness.kube.url,
      caFile: path.join(root, SERVICE_ACCOUNT_PATH, 'ca.crt'),
      skipTLSVerify: false,
    });
    expect(kubeConfig.getContextObject(kubeConfig.getCurrentContext())?.namespace).toBe('ops-agent');
    expect(kubeConfig.getCurrentUser()?.authProvider?.config).toEqual({
      tokenFile: path.join(root, SERVICE_ACCOUNT_PATH, 'token'),
    });
  });

  it('backs up through the fake API server with those credentials and the rendered RBAC rules', async () => {
    const deps = { ...harness.deps, kube: createKubeClients(loadKubeConfig({ serviceAccountRoot: root })) };
    const workspace = await createWorkspace(harness.db.prisma);
    const deployment = await createDeployment(harness.db.prisma, workspace.id, { name: 'pod-db' });
    const outcome = await executeBackup(deps, deployment.id, { trigger: 'MANUAL' });
    expect(outcome.status).toBe('SUCCEEDED');
    // The token was sent (the fake answers 401 otherwise) and every request was authorized by the RBAC rules.
    expect(harness.kube.authorizations.length).toBeGreaterThan(0);
    expect(harness.kube.authorizations.every((decision) => decision.allowed)).toBe(true);
  });

  it('prefers a kubeconfig file when one is given', () => {
    const kubeConfig = loadKubeConfig({ kubeconfigPath: harness.kube.kubeconfigPath, serviceAccountRoot: root });
    expect(kubeConfig.getCurrentContext()).toBe('fake-kube-api');
  });
});
