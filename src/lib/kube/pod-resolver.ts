import type { CoreV1Api, V1Pod } from '@kubernetes/client-node';
import { isApiException } from './client-node.ts';
import { isSecretKey, redactSecrets } from '../shared/index.ts';
import {
  ClusterUnreachableError,
  ContainerNotReadyError,
  InvalidTargetError,
  PodNotFoundError,
  PodNotOwnedError,
  type ExecLocation,
} from './exec-errors.ts';
import { podQueryProblems } from './pod-query.ts';

/** The selector of a deployment's pods when the deployment does not name one: the standard instance label. */
export function defaultPodSelector(deploymentName: string): string {
  return `app.kubernetes.io/instance=${deploymentName}`;
}

/** The label that marks a pod (or its namespace) as a workspace's when `POD_WORKSPACE_LABEL` is not set. */
export const DEFAULT_WORKSPACE_LABEL = 'platform.example/workspace-id';

/**
 * Which pods may run the export: the deployment's pods in one namespace, and the container the recipe names; only
 * pods of the deployment's workspace qualify (`workspaceLabel` = `workspaceId` on the pod, or on its namespace).
 */
export interface ExportTargetQuery {
  namespace: string;
  podSelector: string;
  container: string;
  workspaceId: string;
  workspaceLabel: string;
}

/** The pod and container to exec into, and the secret values of that container (to redact its stderr with). */
export interface ExportTarget {
  pod: string;
  container: string;
  /** Literal values of the container's secret-looking environment variables. Used only for redaction; never log them. */
  secretValues: string[];
}

/**
 * Lists the pods matching the deployment's selector and picks the one to export from (see `choosePod`) among those
 * of the deployment's workspace: the pods labelled `workspaceLabel` = `workspaceId`; or, when none is, every matching
 * pod if the namespace itself carries that label (read only then, so the usual case costs one API call).
 * Throws `InvalidTargetError` (bad namespace or selector, before any call), `PodNotOwnedError` (pods match, none is
 * the workspace's), `PodNotFoundError`, `ContainerNotReadyError`, or `ClusterUnreachableError`.
 */
export async function resolveExportTarget(core: CoreV1Api, query: ExportTargetQuery): Promise<ExportTarget> {
  const location: ExecLocation = { namespace: query.namespace, pod: null, container: query.container };
  const problems = podQueryProblems(query);
  if (problems.length > 0) throw new InvalidTargetError(location, problems);
  let pods: V1Pod[];
  try {
    pods = (await core.listNamespacedPod({ namespace: query.namespace, labelSelector: query.podSelector })).items;
  } catch (error) {
    throw toClusterUnreachable(
      error,
      `listing pods in namespace "${query.namespace}" with selector "${query.podSelector}"`,
    );
  }
  const owned = pods.filter((pod) => pod.metadata?.labels?.[query.workspaceLabel] === query.workspaceId);
  if (owned.length === 0 && pods.length > 0 && !(await namespaceIsOwned(core, query))) {
    const names = pods.map(podName).sort(compareText).join(', ');
    throw new PodNotOwnedError(
      location,
      query.workspaceLabel,
      `no pod matching selector "${query.podSelector}" in namespace "${query.namespace}" belongs to this deployment's workspace (found ${names}; none is labelled ${query.workspaceLabel}=${query.workspaceId}, nor is the namespace): nothing was run`,
    );
  }
  const pod = choosePod(owned.length > 0 ? owned : pods, query);
  return { pod: podName(pod), container: query.container, secretValues: collectSecretValues(pod, query.container) };
}

/**
 * True when the namespace carries the workspace label with the workspace's id. A namespace the worker may not read
 * (403; reading it needs `get` on `namespaces`) or that is gone (404) is not owned.
 */
async function namespaceIsOwned(core: CoreV1Api, query: ExportTargetQuery): Promise<boolean> {
  try {
    const namespace = await core.readNamespace({ name: query.namespace });
    return namespace.metadata?.labels?.[query.workspaceLabel] === query.workspaceId;
  } catch (error) {
    if (isApiException(error) && (error.code === 403 || error.code === 404)) return false;
    throw toClusterUnreachable(error, `reading namespace "${query.namespace}"`);
  }
}

/**
 * Picks the pod to export from, deterministically: Running pods whose spec has the container, ready before not
 * ready, not terminating before terminating, then by name. Pure (the pods are plain API objects).
 * Throws `PodNotFoundError` when no pod matches or none is Running, and `ContainerNotReadyError` when no Running pod
 * has the container (naming the containers it does have) or the best candidate's container is not ready.
 */
export function choosePod(
  pods: readonly V1Pod[],
  query: Pick<ExportTargetQuery, 'namespace' | 'podSelector' | 'container'>,
): V1Pod {
  const { namespace, podSelector, container } = query;
  const location: ExecLocation = { namespace, pod: null, container };
  const byName = [...pods].sort((a, b) => compareText(podName(a), podName(b)));
  if (byName.length === 0) {
    throw new PodNotFoundError(
      location,
      podSelector,
      `no pod in namespace "${namespace}" matches selector "${podSelector}"`,
    );
  }
  const running = byName.filter((pod) => pod.status?.phase === 'Running');
  if (running.length === 0) {
    const found = byName.map((pod) => `${podName(pod)}: ${pod.status?.phase ?? 'Unknown'}`).join(', ');
    throw new PodNotFoundError(
      location,
      podSelector,
      `no Running pod in namespace "${namespace}" matches selector "${podSelector}" (found ${found})`,
    );
  }
  const candidates = running.filter((pod) => containerNames(pod).includes(container));
  if (candidates.length === 0) {
    const pod = running[0]!;
    const available = containerNames(pod);
    throw new ContainerNotReadyError(
      { ...location, pod: podName(pod) },
      available,
      `pod "${podName(pod)}" in namespace "${namespace}" has no container "${container}" (containers: ${available.join(', ') || 'none'})`,
    );
  }
  const rank = (pod: V1Pod) => (isContainerReady(pod, container) ? 0 : 2) + (pod.metadata?.deletionTimestamp ? 1 : 0);
  const chosen = [...candidates].sort((a, b) => rank(a) - rank(b) || compareText(podName(a), podName(b)))[0]!;
  if (!isContainerReady(chosen, container)) {
    throw new ContainerNotReadyError(
      { ...location, pod: podName(chosen) },
      containerNames(chosen),
      `container "${container}" of pod "${podName(chosen)}" in namespace "${namespace}" is not ready (${describeContainerState(chosen, container)})`,
    );
  }
  return chosen;
}

/** Literal values of the container's secret-looking variables (`POSTGRES_PASSWORD`, `PGPASSWORD`, …). Pure. */
export function collectSecretValues(pod: V1Pod, container: string): string[] {
  const env = pod.spec?.containers.find((candidate) => candidate.name === container)?.env ?? [];
  const values = env
    .filter((variable) => isSecretKey(variable.name) && variable.value)
    .map((variable) => variable.value!);
  return [...new Set(values)];
}

/** Turns a failed API call into a `ClusterUnreachableError` with a short, redacted message. */
export function toClusterUnreachable(error: unknown, action: string): ClusterUnreachableError {
  if (isApiException(error)) {
    const code = error.code as number;
    const hint =
      code === 401
        ? ' (Unauthorized: check the credentials)'
        : code === 403
          ? ' (Forbidden: check the RBAC rules)'
          : '';
    return new ClusterUnreachableError(code, `Kubernetes API answered ${code}${hint} while ${action}`);
  }
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : undefined;
  const reason = [
    error instanceof Error ? error.message : String(error),
    (cause as NodeJS.ErrnoException | undefined)?.code ?? cause?.message,
  ]
    .filter(Boolean)
    .join(': ');
  return new ClusterUnreachableError(null, redactSecrets(`cannot reach the Kubernetes API while ${action}: ${reason}`));
}

function podName(pod: V1Pod): string {
  return pod.metadata?.name ?? '';
}

function containerNames(pod: V1Pod): string[] {
  return (pod.spec?.containers ?? []).map((container) => container.name);
}

function isContainerReady(pod: V1Pod, container: string): boolean {
  return pod.status?.containerStatuses?.find((status) => status.name === container)?.ready === true;
}

function describeContainerState(pod: V1Pod, container: string): string {
  const status = pod.status?.containerStatuses?.find((candidate) => candidate.name === container);
  if (!status) return 'no status reported';
  const { waiting, terminated, running } = status.state ?? {};
  if (waiting) return `waiting: ${waiting.reason ?? 'unknown reason'}`;
  if (terminated) return `terminated: ${terminated.reason ?? `exit code ${terminated.exitCode}`}`;
  if (running) return 'running but failing its readiness probe';
  return 'state unknown';
}

/** Locale-independent ordering, so the choice is the same on every machine. */
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
