import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import type { FakeRbac, PolicyRule } from './fake-kube-api.ts';
import { PROJECT_ROOT } from './processes.ts';

const execFileAsync = promisify(execFile);

/** A rendered Kubernetes object, loosely typed: tests read what they check. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

/** The kustomizations users apply: the base and each example overlay. */
export const KUSTOMIZATIONS = [
  'deploy/kubernetes',
  'deploy/kubernetes/overlays/single-replica-rwo',
  'deploy/kubernetes/overlays/two-replicas-rwx',
] as const;

/** The namespace the test harness's pods live in, granted to the worker as README's "add a tenant namespace" says. */
export const TEST_TENANT_NAMESPACES = ['apps'];

const rendered = new Map<string, Promise<KubeObject[]>>();

/** `kubectl kustomize <folder>` (kubectl's built-in kustomize), parsed; rendered once per folder and process. */
export function renderKustomization(folder: string): Promise<KubeObject[]> {
  let objects = rendered.get(folder);
  if (!objects) {
    objects = execFileAsync('kubectl', ['kustomize', path.join(PROJECT_ROOT, folder)], {
      maxBuffer: 16 * 1024 * 1024,
    }).then(({ stdout }) => parseObjects(stdout));
    rendered.set(folder, objects);
  }
  return objects;
}

export function parseObjects(text: string): KubeObject[] {
  return parseAllDocuments(text)
    .map((document) => document.toJS() as KubeObject | null)
    .filter((object): object is KubeObject => object !== null);
}

/** The object of `kind` named `name`; throws naming what was looked for when it is not there. */
export function findObject<T extends KubeObject = KubeObject>(
  objects: readonly KubeObject[],
  kind: string,
  name: string,
): T {
  const found = objects.find((object) => object.kind === kind && object.metadata.name === name);
  if (!found) throw new Error(`no ${kind} named ${name} among the rendered objects`);
  return found as T;
}

/** The worker's service account, as its rendered Deployment names it. */
export function workerServiceAccount(objects: readonly KubeObject[]): FakeRbac['serviceAccount'] {
  const worker = findObject(objects, 'Deployment', 'ops-agent-worker') as KubeObject & {
    spec: { template: { spec: { serviceAccountName: string } } };
  };
  return { namespace: worker.metadata.namespace!, name: worker.spec.template.spec.serviceAccountName };
}

/**
 * The RoleBinding that grants the worker's ClusterRole in `namespace`, made the way README documents adding a tenant
 * namespace: `kubectl create rolebinding … --dry-run=client`.
 */
export async function tenantRoleBinding(
  namespace: string,
  account: FakeRbac['serviceAccount'],
  clusterRole = 'ops-agent-worker',
): Promise<KubeObject> {
  const { stdout } = await execFileAsync('kubectl', [
    'create',
    'rolebinding',
    'ops-agent-worker',
    `--namespace=${namespace}`,
    `--clusterrole=${clusterRole}`,
    `--serviceaccount=${account.namespace}:${account.name}`,
    '--dry-run=client',
    '--output=json',
  ]);
  return JSON.parse(stdout) as KubeObject;
}

/**
 * The fake API server's RBAC mode with exactly what `kubectl kustomize deploy/kubernetes` renders, plus one tenant
 * RoleBinding per namespace. `editRules` changes the worker's ClusterRole rules first (to prove each one is needed).
 */
export async function renderedWorkerRbac(
  namespaces: readonly string[] = TEST_TENANT_NAMESPACES,
  editRules: (rules: PolicyRule[]) => PolicyRule[] = (rules) => rules,
): Promise<FakeRbac> {
  const base = await renderKustomization('deploy/kubernetes');
  const serviceAccount = workerServiceAccount(base);
  const objects = base.map((object) =>
    object.kind === 'ClusterRole' && object.metadata.name === 'ops-agent-worker'
      ? { ...object, rules: editRules(structuredClone(object.rules as PolicyRule[])) }
      : object,
  );
  const bindings = await Promise.all(namespaces.map((namespace) => tenantRoleBinding(namespace, serviceAccount)));
  return { serviceAccount, objects: [...objects, ...bindings] };
}
