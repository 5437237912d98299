import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/lib/runtime/config.ts';
import { FILE_READABLE_VARIABLES } from '../../../src/lib/runtime/config-files.ts';
import {
  findObject,
  KUSTOMIZATIONS,
  type KubeObject,
  parseObjects,
  renderKustomization,
} from '../../support/kubernetes-manifests.ts';
import { validateAgainstSchemas } from '../../support/kubernetes-schema.ts';
import { PROJECT_ROOT } from '../../support/processes.ts';

/**
 * deploy/kubernetes as users apply it: `kubectl kustomize` renders the base and each example overlay, and every
 * rendered object is checked against the Kubernetes API schemas offline (no cluster here), then against what this
 * project promises: pinned images, restricted pods, secrets only as files, probes on the health server, exactly the
 * worker's RBAC rules and nothing cluster-wide.
 */
interface Container {
  name: string;
  image: string;
  command?: string[];
  env?: Array<{ name: string; value?: string; valueFrom?: { secretKeyRef?: unknown } }>;
  envFrom?: Array<{ configMapRef?: { name: string }; secretRef?: unknown }>;
  ports?: Array<{ name: string; containerPort: number }>;
  securityContext?: Record<string, unknown> & { capabilities?: { drop?: string[] } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
}
interface Probe {
  httpGet?: { path: string; port: string | number };
  tcpSocket?: { port: string | number };
}
interface PodSpec {
  serviceAccountName: string;
  automountServiceAccountToken?: boolean;
  terminationGracePeriodSeconds?: number;
  securityContext?: Record<string, unknown> & { seccompProfile?: { type: string } };
  initContainers?: Container[];
  containers: Container[];
  volumes?: Array<{ name: string; secret?: unknown; persistentVolumeClaim?: { claimName: string } }>;
}
type Workload = KubeObject & {
  spec: {
    replicas: number;
    strategy?: { type: string };
    selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
  };
};
type ConfigMap = KubeObject & { data: Record<string, string> };

const rendered: Record<string, KubeObject[]> = {};
let scratch: string;

beforeAll(async () => {
  for (const folder of KUSTOMIZATIONS) rendered[folder] = await renderKustomization(folder);
  scratch = await mkdtemp(path.join(os.tmpdir(), 'manifests-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

const workloadsOf = (objects: KubeObject[]) =>
  objects.filter((object): object is Workload => object.kind === 'Deployment');
const containersOf = (workload: Workload) => [
  ...(workload.spec.template.spec.initContainers ?? []),
  ...workload.spec.template.spec.containers,
];
const configOf = (objects: KubeObject[]) => objects.find((object) => object.kind === 'ConfigMap') as ConfigMap;

describe.each(KUSTOMIZATIONS)('kubectl kustomize %s', (folder) => {
  const objects = () => rendered[folder]!;

  it('renders objects that pass the Kubernetes API schemas (types, required and unknown fields)', async () => {
    expect(objects().length).toBeGreaterThanOrEqual(12);
    const problems = (await Promise.all(objects().map((object) => validateAgainstSchemas(object)))).flat();
    expect(problems).toEqual([]);
  });

  it('pins every image to a version tag (never latest, never untagged)', () => {
    const images = workloadsOf(objects()).flatMap((workload) => containersOf(workload).map((c) => c.image));
    expect(images.length).toBeGreaterThanOrEqual(3);
    for (const image of images) {
      expect(image).toMatch(/^[a-z0-9./-]+:[0-9]+\.[0-9]+\.[0-9]+$|@sha256:[0-9a-f]{64}$/);
      expect(image).not.toMatch(/:latest$/);
    }
  });

  it('runs every container non-root, read-only, without capabilities, under seccomp RuntimeDefault, with limits', () => {
    for (const workload of workloadsOf(objects())) {
      const pod = workload.spec.template.spec;
      expect(pod.securityContext, workload.metadata.name).toMatchObject({
        runAsNonRoot: true,
        seccompProfile: { type: 'RuntimeDefault' },
      });
      for (const container of containersOf(workload)) {
        expect(container.securityContext, container.name).toMatchObject({
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ['ALL'] },
        });
        expect(container.resources?.requests?.memory, container.name).toBeDefined();
        expect(container.resources?.requests?.cpu, container.name).toBeDefined();
        expect(container.resources?.limits?.memory, container.name).toBeDefined();
      }
      for (const [key, value] of Object.entries(workload.spec.selector.matchLabels)) {
        expect(workload.spec.template.metadata.labels[key], `${workload.metadata.name} selector ${key}`).toBe(value);
      }
    }
  });

  it('gives secrets to the pods only as mounted files named by *_FILE, and a configuration the worker accepts', async () => {
    for (const workload of workloadsOf(objects())) {
      for (const container of containersOf(workload)) {
        expect(container.env?.filter((variable) => variable.valueFrom?.secretKeyRef) ?? []).toEqual([]);
        expect(container.envFrom?.filter((source) => source.secretRef) ?? []).toEqual([]);
      }
    }
    const config = configOf(objects()).data;
    const fileVariables = Object.keys(config).filter((key) => key.endsWith('_FILE'));
    expect(fileVariables.sort()).toEqual(['DATABASE_URL_FILE', 'METRICS_TOKEN_FILE']);
    for (const key of fileVariables) {
      expect(FILE_READABLE_VARIABLES as readonly string[]).toContain(key.slice(0, -'_FILE'.length));
      expect(config[key]).toMatch(/^\/var\/run\/secrets\/ops-agent\/[a-z-]+$/);
    }
    // The configuration as the worker reads it, with the secret files where the pod would have them.
    const env: Record<string, string> = { ...config };
    for (const key of fileVariables) {
      env[key] = path.join(scratch, path.basename(config[key]!));
      await writeFile(env[key]!, key === 'DATABASE_URL_FILE' ? 'postgresql://ops@db:5432/ops' : 'm'.repeat(32));
    }
    const parsed = loadConfig(env);
    for (const key of Object.keys(config).filter((key) => !key.endsWith('_FILE'))) {
      expect(Object.keys(parsed), `config.env sets ${key}, which the worker does not read`).toContain(key);
    }
  });

  it('stops the worker no sooner than SHUTDOWN_GRACE_SECONDS plus time to record the interrupted backups', () => {
    const config = loadConfig({ ...configOf(objects()).data, DATABASE_URL_FILE: '', METRICS_TOKEN_FILE: '' });
    const worker = findObject<Workload>(objects(), 'Deployment', 'ops-agent-worker');
    expect(worker.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(
      config.SHUTDOWN_GRACE_SECONDS + 30,
    );
  });

  it("probes the worker's health server: /healthz for liveness and start-up, /readyz for readiness", () => {
    const config = loadConfig({ ...configOf(objects()).data, DATABASE_URL_FILE: '', METRICS_TOKEN_FILE: '' });
    const worker = findObject<Workload>(objects(), 'Deployment', 'ops-agent-worker');
    const container = worker.spec.template.spec.containers.find((c) => c.name === 'worker')!;
    const port = container.ports?.find((p) => p.name === 'health');
    expect(port?.containerPort).toBe(config.HEALTH_PORT);
    expect(container.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'health' });
    expect(container.startupProbe?.httpGet).toEqual({ path: '/healthz', port: 'health' });
    expect(container.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'health' });
    expect(container.command).toBeUndefined(); // the image's CMD: node --initial-old-space-size=64 dist/worker.js
    const backups = container.volumeMounts?.find((mount) => mount.mountPath === config.BACKUP_ROOT);
    const volume = worker.spec.template.spec.volumes?.find((candidate) => candidate.name === backups?.name);
    expect(volume?.persistentVolumeClaim?.claimName).toBe('ops-agent-backups');
    // Migrations run once per rollout, before the worker: npm run db:migrate, compiled.
    expect(worker.spec.template.spec.initContainers?.map((c) => c.command)).toEqual([['node', 'dist/cli/migrate.js']]);
  });

  it('grants the worker exactly pods list and pods/exec get+create, per tenant namespace, and the web nothing', () => {
    const clusterRoles = objects().filter((object) => object.kind === 'ClusterRole');
    expect(clusterRoles.map((role) => role.metadata.name)).toEqual(['ops-agent-worker']);
    expect(clusterRoles[0]!.rules).toEqual([
      { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
      { apiGroups: [''], resources: ['pods/exec'], verbs: ['get', 'create'] },
    ]);
    expect(objects().filter((object) => object.kind === 'ClusterRoleBinding' || object.kind === 'Role')).toEqual([]);
    for (const binding of objects().filter((object) => object.kind === 'RoleBinding')) {
      expect(binding.metadata.namespace).not.toBe('ops-agent');
      expect(binding).toMatchObject({
        roleRef: { kind: 'ClusterRole', name: 'ops-agent-worker' },
        subjects: [{ kind: 'ServiceAccount', name: 'ops-agent-worker', namespace: 'ops-agent' }],
      });
    }
    const web = findObject<Workload>(objects(), 'Deployment', 'ops-agent-web').spec.template.spec;
    expect(web.serviceAccountName).toBe('ops-agent-web');
    expect(web.automountServiceAccountToken).toBe(false);
    expect(findObject(objects(), 'ServiceAccount', 'ops-agent-web')).toMatchObject({
      automountServiceAccountToken: false,
    });
  });

  it('lets the worker reach DNS, the API server, the database and HTTPS only, and the web take requests only from the ingress controller and Prometheus', () => {
    type Policy = KubeObject & {
      spec: {
        podSelector: { matchLabels?: Record<string, string> };
        policyTypes: string[];
        ingress?: Array<{ from?: unknown[]; ports?: Array<{ port: number | string }> }>;
        egress?: Array<{ to?: unknown[]; ports?: Array<{ port: number | string }> }>;
      };
    };
    const policies = objects().filter((object): object is Policy => object.kind === 'NetworkPolicy');
    expect(findObject<Policy>(policies, 'NetworkPolicy', 'default-deny').spec).toEqual({
      podSelector: {},
      policyTypes: ['Ingress', 'Egress'],
    });
    const ports = (rules: Array<{ ports?: Array<{ port: number | string }> }> = []) =>
      rules.flatMap((rule) => (rule.ports ?? []).map((port) => port.port)).sort();
    const worker = findObject<Policy>(policies, 'NetworkPolicy', 'ops-agent-worker').spec;
    expect(ports(worker.egress)).toEqual([443, 53, 53, 5432, 6443].sort());
    expect(ports(worker.ingress)).toEqual(['health']);
    const web = findObject<Policy>(policies, 'NetworkPolicy', 'ops-agent-web').spec;
    expect(ports(web.ingress)).toEqual(['http']);
    expect(web.ingress?.flatMap((rule) => rule.from ?? [])).toEqual([
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } },
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } },
    ]);
    expect(ports(web.egress)).toEqual([5432, 53, 53].sort());
  });
});

describe('the example overlays', () => {
  const workload = (folder: string, name: string) => findObject<Workload>(rendered[folder]!, 'Deployment', name);
  const claim = (folder: string) =>
    findObject<KubeObject & { spec: { accessModes: string[] } }>(
      rendered[folder]!,
      'PersistentVolumeClaim',
      'ops-agent-backups',
    );
  const budget = (folder: string) =>
    findObject<KubeObject & { spec: Record<string, unknown> }>(
      rendered[folder]!,
      'PodDisruptionBudget',
      'ops-agent-worker',
    );

  it('single-replica-rwo: one worker (Recreate) on a ReadWriteOnce volume, the web on its node, tenant bindings and an Ingress', () => {
    const folder = 'deploy/kubernetes/overlays/single-replica-rwo';
    expect(workload(folder, 'ops-agent-worker').spec).toMatchObject({ replicas: 1, strategy: { type: 'Recreate' } });
    expect(claim(folder).spec.accessModes).toEqual(['ReadWriteOnce']);
    expect(budget(folder).spec).toMatchObject({ maxUnavailable: 1 });
    expect(workload(folder, 'ops-agent-web').spec.template.spec).toHaveProperty('affinity.podAffinity');
    expect(
      rendered[folder]!.filter((object) => object.kind === 'RoleBinding').map((object) => object.metadata.namespace),
    ).toEqual(['apps', 'shop']);
    expect(findObject(rendered[folder]!, 'Ingress', 'ops-agent-web').metadata.namespace).toBe('ops-agent');
  });

  it('two-replicas-rwx: two workers rolling on a ReadWriteMany volume, one always running, the web free to move', () => {
    const folder = 'deploy/kubernetes/overlays/two-replicas-rwx';
    expect(workload(folder, 'ops-agent-worker').spec).toMatchObject({
      replicas: 2,
      strategy: { type: 'RollingUpdate' },
    });
    expect(workload(folder, 'ops-agent-web').spec.replicas).toBe(2);
    expect(workload(folder, 'ops-agent-web').spec.template.spec).not.toHaveProperty('affinity');
    expect(claim(folder).spec.accessModes).toEqual(['ReadWriteMany']);
    expect(budget(folder).spec).toEqual({
      minAvailable: 1,
      selector: { matchLabels: { 'app.kubernetes.io/name': 'ops-agent-worker' } },
    });
  });

  it('tenant-rolebinding.yaml, the template for adding a namespace, passes the schemas and binds the same role', async () => {
    const [binding] = parseObjects(
      await readFile(path.join(PROJECT_ROOT, 'deploy/kubernetes/tenant-rolebinding.yaml'), 'utf8'),
    );
    expect(await validateAgainstSchemas(binding!)).toEqual([]);
    expect(binding).toMatchObject({ kind: 'RoleBinding', roleRef: { kind: 'ClusterRole', name: 'ops-agent-worker' } });
  });
});

describe('the schema check itself', () => {
  it('catches a misspelt field, a wrong type and a missing required field', async () => {
    const worker = structuredClone(
      findObject<Workload>(rendered['deploy/kubernetes']!, 'Deployment', 'ops-agent-worker'),
    );
    const container = worker.spec.template.spec.containers[0] as unknown as Record<string, unknown>;
    container.securityContex = container.securityContext;
    (worker.spec as unknown as Record<string, unknown>).replicas = 'one';
    delete (worker.spec as unknown as Record<string, unknown>).selector;
    const problems = (await validateAgainstSchemas(worker)).join('\n');
    expect(problems).toContain('securityContex: unknown field');
    expect(problems).toContain('data/spec/replicas must be integer');
    expect(problems).toContain('must have required property selector');
  });
});
