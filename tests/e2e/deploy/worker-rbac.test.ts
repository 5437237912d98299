import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createWorkerMetrics } from '../../../src/lib/health/index.ts';
import { restoreBackup } from '../../../src/lib/restore/index.ts';
import { runOnce, type LoopDependencies } from '../../../src/lib/worker/index.ts';
import { podFor, startBackupHarness, type BackupHarness } from '../../support/backup-harness.ts';
import type { PolicyRule } from '../../support/fake-kube-api.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';
import { renderedWorkerRbac, TEST_TENANT_NAMESPACES } from '../../support/kubernetes-manifests.ts';
import { createDatabase, databaseUrl, dropDatabase, uniqueDatabaseName } from '../../support/postgres.ts';

/**
 * The worker's RBAC rules are proved, not described: a worker cycle (a scheduled backup, its format check, a
 * scheduled test-restore) and a scratch restore run through the fake API server enforcing exactly the ClusterRole
 * that `kubectl kustomize deploy/kubernetes` renders, bound in the tenant namespace the documented way. With every
 * rule the whole story succeeds and uses every permission granted; with any one (resource, verb) taken out of the
 * manifest, the backup fails with the API's 403.
 */
const ROWS = 300;
const HOUR = 3_600_000;
/** Sunday 03:30 UTC: the daily backup at 03:00 is due, and so is the first weekly test-restore. */
const T0 = new Date('2026-03-01T03:30:00Z');

let source: string;
let harness: BackupHarness | undefined;

beforeAll(async () => {
  source = await createDatabase(uniqueDatabaseName('ops_test_rbac_src'));
  const client = new pg.Client({ connectionString: databaseUrl(source) });
  await client.connect();
  await client.query(`CREATE TABLE items AS SELECT g AS id, md5(g::text) AS name FROM generate_series(1, ${ROWS}) g`);
  await client.end();
});
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});
afterAll(async () => {
  await dropDatabase(source);
});

/** A harness whose fake API server enforces the rendered rules after `editRules`, with one due deployment. */
async function setUp(editRules?: (rules: PolicyRule[]) => PolicyRule[]) {
  const started = performance.now();
  harness = await startBackupHarness({
    pods: [podFor('orders-db', 'postgres', { PGHOST: '127.0.0.1', POSTGRES_USER: 'postgres', POSTGRES_DB: source })],
    rbac: await renderedWorkerRbac(TEST_TENANT_NAMESPACES, editRules),
    clock: () => new Date(T0.getTime() + Math.round(performance.now() - started)),
  });
  const metrics = createWorkerMetrics({ intervalSeconds: 60, backupRoot: harness.root });
  harness.deps.observer = metrics;
  const workspace = await createWorkspace(harness.db.prisma);
  const deployment = await createDeployment(harness.db.prisma, workspace.id, {
    name: 'orders-db',
    namespace: 'apps',
    backupEnabled: true,
    backupSchedule: '0 3 * * *',
    testRestoreSchedule: '0 3 * * 0',
    createdAt: new Date('2026-01-01T00:00:00Z'),
  });
  const deps: LoopDependencies = await harness.loop({
    settings: { concurrency: 1, overdueGraceMs: HOUR, retryDelayMs: HOUR },
  });
  return { harness, deps, deployment, metrics };
}

/** The rules without one verb on one resource (a rule left with no verb goes entirely). */
const without =
  (resource: string, verb: string) =>
  (rules: PolicyRule[]): PolicyRule[] =>
    rules
      .map((rule) =>
        rule.resources?.includes(resource) ? { ...rule, verbs: rule.verbs.filter((v) => v !== verb) } : rule,
      )
      .filter((rule) => rule.verbs.length > 0);

describe("the worker's rendered RBAC rules", () => {
  it('are enough: a cycle backs up and test-restores, a scratch restore succeeds, and every permission is used', async () => {
    const { harness, deps, deployment, metrics } = await setUp();
    const { cycle, jobs } = await runOnce(deps);
    expect(cycle).toMatchObject({ due: 1, queued: 1, testRestoresQueued: 1 });
    expect(jobs).toMatchObject({ backupsSucceeded: 1, backupsFailed: 0, testRestores: 1, testRestoresFailed: 0 });
    const backup = await harness.db.prisma.backupRecord.findFirstOrThrow({ where: { deploymentId: deployment.id } });
    expect(backup).toMatchObject({ status: 'SUCCEEDED', verifyError: null });
    const scratch = await restoreBackup(harness.deps, backup.id, {
      mode: 'scratch',
      requestedBy: 'test',
      trigger: 'MANUAL',
    });
    expect(scratch).toMatchObject({ status: 'SUCCEEDED', counts: { tables: { 'public.items': ROWS } } });

    const decisions = harness.kube.authorizations;
    expect(decisions.length).toBeGreaterThan(0);
    expect(decisions.filter((decision) => !decision.allowed)).toEqual([]);
    const used = new Set(
      decisions.map((d) => `${d.subresource ? `${d.resource}/${d.subresource}` : d.resource}:${d.verb}`),
    );
    const granted = (await renderedWorkerRbac()).objects
      .filter((object) => (object as { kind?: string }).kind === 'ClusterRole')
      .flatMap((role) => (role as { rules: PolicyRule[] }).rules)
      .flatMap((rule) => rule.resources!.flatMap((resource) => rule.verbs.map((verb) => `${resource}:${verb}`)));
    expect(granted.sort()).toEqual(['pods/exec:create', 'pods/exec:get', 'pods:list']);
    expect([...used].sort()).toEqual(granted.sort());

    const text = await metrics.registry.metrics();
    expect(text).toContain('ops_worker_backups_total{result="succeeded"} 1');
    expect(text).toContain('ops_worker_restores_total{kind="test",result="succeeded"} 1');
    expect(text).toContain('ops_worker_restores_total{kind="scratch",result="succeeded"} 1');
  });

  it.each([
    ['pods', 'list', /Kubernetes API answered 403 \(Forbidden: check the RBAC rules\) while listing pods/],
    ['pods/exec', 'get', /Kubernetes API answered 403 \(Forbidden: check the RBAC rules;.*\) to the exec into/],
    ['pods/exec', 'create', /Kubernetes API answered 403 \(Forbidden: check the RBAC rules;.*\) to the exec into/],
  ])(
    'are each needed: without %s %s the backup fails with 403 and nothing is test-restored',
    async (resource, verb, error) => {
      const { harness, deps, deployment, metrics } = await setUp(without(resource, verb));
      const { cycle, jobs } = await runOnce(deps);
      expect(cycle).toMatchObject({ due: 1, queued: 1 });
      // The test-restore queued beside the backup finds no backup to restore.
      expect(jobs).toMatchObject({ backupsSucceeded: 0, backupsFailed: 1, testRestores: 0 });
      const backup = await harness.db.prisma.backupRecord.findFirstOrThrow({ where: { deploymentId: deployment.id } });
      expect(backup).toMatchObject({ status: 'FAILED', errorKind: 'ClusterUnreachable' });
      expect(backup.error).toMatch(error);
      expect(harness.kube.authorizations).toContainEqual(
        expect.objectContaining({ verb, resource: resource.split('/')[0], allowed: false }),
      );
      expect(harness.kube.execs).toEqual([]);
      expect(await metrics.registry.metrics()).toContain('ops_worker_backups_total{result="failed"} 1');
    },
  );

  it('grant nothing outside the namespaces that were added', async () => {
    const { harness, deps, deployment } = await setUp();
    await harness.db.prisma.deployment.update({ where: { id: deployment.id }, data: { namespace: 'elsewhere' } });
    harness.kube.pods[0]!.namespace = 'elsewhere';
    await runOnce(deps);
    const backup = await harness.db.prisma.backupRecord.findFirstOrThrow({ where: { deploymentId: deployment.id } });
    expect(backup.status).toBe('FAILED');
    expect(backup.error).toContain('403');
  });
});
