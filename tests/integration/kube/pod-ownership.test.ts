import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeBackup } from '../../../src/lib/backups/backup.ts';
import { PodNotOwnedError } from '../../../src/lib/kube/exec-errors.ts';
import { createKubeClients } from '../../../src/lib/kube/kube-clients.ts';
import { DEFAULT_WORKSPACE_LABEL, resolveExportTarget } from '../../../src/lib/kube/pod-resolver.ts';
import { podFor, startBackupHarness, type BackupHarness } from '../../support/backup-harness.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';
import { startFakeKubeApi, type FakeKubeApi } from '../../support/fake-kube-api.ts';

/**
 * Pods belong to the workspace: two workspaces may share a namespace and a deployment name, so the pod a selector
 * finds must also carry the workspace label (or live in a namespace labelled as the workspace's). Otherwise the backup
 * is FAILED `PodNotOwned` and no exec request reaches the API server at all. A namespace or selector that is not valid
 * is refused before any request.
 */
let harness: BackupHarness;

/** Requests that tried to exec (whatever the answer). */
function execRequests(kube: FakeKubeApi) {
  return kube.requests.filter((request) => request.path.endsWith('/exec'));
}

beforeAll(async () => {
  harness = await startBackupHarness();
});
afterAll(async () => {
  await harness?.close();
});

describe('a backup whose pod is not its workspace’s', () => {
  it('is FAILED PodNotOwned, with no exec, when the only matching pod is another workspace’s (same namespace, same name)', async () => {
    const mine = await createWorkspace(harness.db.prisma);
    const theirs = await createWorkspace(harness.db.prisma);
    const name = 'shared-name-db';
    harness.kube.pods.push(
      podFor(
        name,
        'postgres',
        { PGPASSWORD: 'their-secret' },
        {
          labels: { 'app.kubernetes.io/instance': name, [DEFAULT_WORKSPACE_LABEL]: theirs.id },
        },
      ),
    );
    const deployment = await createDeployment(harness.db.prisma, mine.id, { name, namespace: 'apps' });
    const requestsBefore = harness.kube.requests.length;

    const outcome = await executeBackup(harness.deps, deployment.id, { trigger: 'MANUAL' });

    expect(outcome.status).toBe('FAILED');
    if (outcome.status !== 'FAILED') return;
    expect(outcome.record).toMatchObject({ errorKind: 'PodNotOwned', path: null });
    expect(outcome.record.error).toContain(`none is labelled ${DEFAULT_WORKSPACE_LABEL}=${mine.id}`);
    expect(harness.kube.execs).toEqual([]);
    expect(execRequests(harness.kube)).toEqual([]);
    // The pod list was asked for; the namespace was looked at (and the worker may not read it: not owned).
    expect(harness.kube.requests.slice(requestsBefore).map((request) => request.path)).toEqual([
      '/api/v1/namespaces/apps/pods',
      '/api/v1/namespaces/apps',
    ]);
    const alerts = await harness.db.prisma.alert.findMany({ where: { deploymentId: deployment.id } });
    expect(alerts).toMatchObject([{ kind: 'backup_failed', backupRecordId: outcome.record.id }]);
  });

  it('is FAILED PodNotOwned when the pod carries no workspace label at all', async () => {
    const workspace = await createWorkspace(harness.db.prisma);
    // Created without the factory, so the test fixtures do not label its pod as the platform would.
    const deployment = await harness.db.prisma.deployment.create({
      data: {
        workspaceId: workspace.id,
        name: 'unlabelled-db',
        recipeSlug: 'postgresql',
        namespace: 'apps',
        status: 'RUNNING',
      },
    });
    harness.kube.pods.push(podFor('unlabelled-db', 'postgres', {}));

    const outcome = await executeBackup(harness.deps, deployment.id, { trigger: 'MANUAL' });

    expect(outcome.status).toBe('FAILED');
    if (outcome.status === 'FAILED') expect(outcome.record.errorKind).toBe('PodNotOwned');
    expect(execRequests(harness.kube)).toEqual([]);
  });

  it('picks its own workspace’s pod when another workspace’s pod matches the same selector', async () => {
    const mine = await createWorkspace(harness.db.prisma);
    const theirs = await createWorkspace(harness.db.prisma);
    const name = 'twin-db';
    // Sorted by name, theirs would come first.
    harness.kube.pods.push(
      podFor(
        name,
        'postgres',
        {},
        {
          name: `${name}-a`,
          labels: { 'app.kubernetes.io/instance': name, [DEFAULT_WORKSPACE_LABEL]: theirs.id },
        },
      ),
      podFor(
        name,
        'postgres',
        {},
        {
          name: `${name}-b`,
          labels: { 'app.kubernetes.io/instance': name, [DEFAULT_WORKSPACE_LABEL]: mine.id },
        },
      ),
    );
    const target = await resolveExportTarget(harness.deps.kube.core, {
      namespace: 'apps',
      podSelector: `app.kubernetes.io/instance=${name}`,
      container: 'postgres',
      workspaceId: mine.id,
      workspaceLabel: DEFAULT_WORKSPACE_LABEL,
    });
    expect(target.pod).toBe(`${name}-b`);
  });

  it.each([
    [
      'a namespace that is not a DNS label',
      { namespace: 'Apps/../kube-system' },
      /namespace "Apps\/..\/kube-system" must be a DNS label/,
    ],
    [
      'a selector that is not a label selector',
      { podSelector: 'app in (a' },
      /podSelector "app in \(a" must be a Kubernetes label selector/,
    ],
    ['an empty selector', { podSelector: ' ' }, /it is empty/],
  ])('is FAILED InvalidTarget, before any request, for %s', async (_label, fields, message) => {
    const workspace = await createWorkspace(harness.db.prisma);
    const deployment = await createDeployment(harness.db.prisma, workspace.id, fields);
    const requestsBefore = harness.kube.requests.length;

    const outcome = await executeBackup(harness.deps, deployment.id, { trigger: 'MANUAL' });

    expect(outcome.status).toBe('FAILED');
    if (outcome.status !== 'FAILED') return;
    expect(outcome.record.errorKind).toBe('InvalidTarget');
    expect(outcome.record.error).toMatch(message);
    expect(harness.kube.requests.length).toBe(requestsBefore);
  });
});

describe('a namespace labelled as the workspace’s', () => {
  let kube: FakeKubeApi;
  beforeAll(async () => {
    // No RBAC mode: reading a namespace needs `get` on `namespaces`, which the shipped worker role does not grant.
    kube = await startFakeKubeApi({
      pods: [podFor('team-db', 'postgres', {}, { namespace: 'team-a' })],
      podLabels: () => ({}),
      namespaceLabels: { 'team-a': { [DEFAULT_WORKSPACE_LABEL]: 'wsteama' } },
    });
  });
  afterAll(async () => {
    await kube?.close();
  });
  const query = (workspaceId: string) => ({
    namespace: 'team-a',
    podSelector: 'app.kubernetes.io/instance=team-db',
    container: 'postgres',
    workspaceId,
    workspaceLabel: DEFAULT_WORKSPACE_LABEL,
  });

  it('makes its unlabelled pods the workspace’s', async () => {
    const target = await resolveExportTarget(createKubeClients(kube.kubeConfig()).core, query('wsteama'));
    expect(target.pod).toBe('team-db-0');
  });

  it('is still not another workspace’s', async () => {
    await expect(
      resolveExportTarget(createKubeClients(kube.kubeConfig()).core, query('wsteamb')),
    ).rejects.toBeInstanceOf(PodNotOwnedError);
  });

  it('reads the label name from the clients (POD_WORKSPACE_LABEL)', async () => {
    kube.namespaceLabels['team-a'] = { 'tenant.example/id': 'wsteama' };
    const clients = createKubeClients(kube.kubeConfig(), { workspaceLabel: 'tenant.example/id' });
    const target = await resolveExportTarget(clients.core, {
      ...query('wsteama'),
      workspaceLabel: clients.workspaceLabel,
    });
    expect(target.pod).toBe('team-db-0');
  });
});
