import type { CoreV1Api, V1Pod } from '@kubernetes/client-node';
import { isApiException } from './kube-clients.ts';
import { isSecretKey, redactSecrets } from '../shared/index.ts';
import { ClusterUnreachableError, ContainerNotReadyError, PodNotFoundError, type ExecLocation } from './exec-errors.ts';

/** The selector of a deployment's pods when the deployment does not name one: the standard instance label. */
export function defaultPodSelector(deploymentName: string): string {
  return `app.kubernetes.io/instance=${deploymentName}`;
}

/** Which pods may run the export: the deployment's pods in one namespace, and the container the recipe names. */
export interface ExportTargetQuery {
  namespace: string;
  podSelector: string;
  container: string;
}

/** The pod and container to exec into, and the secret values of that container (to redact its stderr with). */
export interface ExportTarget {
  pod: string;
  container: string;
  /** Literal values of the container's secret-looking environment variables. Used only for redaction; never log them. */
  secretValues: string[];
}

/**
 * Lists the pods matching the deployment's selector and picks the one to export from (see `choosePod`).
 * Throws `PodNotFoundError`, `ContainerNotReadyError`, or `ClusterUnreachableError` when the API cannot be used.
 */
export async function resolveExportTarget(core: CoreV1Api, query: ExportTargetQuery): Promise<ExportTarget> {
  let pods: V1Pod[];
  try {
    pods = (await core.listNamespacedPod({ namespace: query.namespace, labelSelector: query.podSelector })).items;
  } catch (error) {
    throw toClusterUnreachable(
      error,
      `listing pods in namespace "${query.namespace}" with selector "${query.podSelector}"`,
    );
  }
  const pod = choosePod(pods, query);
  return { pod: podName(pod), container: query.container, secretValues: collectSecretValues(pod, query.container) };
}

/**
 * Picks the pod to export from, deterministically: Running pods whose spec has the container, ready before not
 * ready, not terminating before terminating, then by name. Pure (the pods are plain API objects).
 * Throws `PodNotFoundError` when no pod matches or none is Running, and `ContainerNotReadyError` when no Running pod
 * has the container (naming the containers it does have) or the best candidate's container is not ready.
 */
export function choosePod(pods: readonly V1Pod[], query: ExportTargetQuery): V1Pod {
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
