import {
  ClusterUnreachableError,
  ContainerNotReadyError,
  PodNotFoundError,
  describeLocation,
  type ExecLocation,
} from './exec-errors.ts';

const UPGRADE_REJECTED = /^Unexpected server response: (\d{3})$/;

/**
 * Classifies a rejected `exec()` (client-node rejects with only "Unexpected server response: 404"): the upgrade was
 * answered with an HTTP status (404 pod gone, 400 container not running, others), or the API was not reached at all.
 */
export function toUpgradeFailure(location: ExecLocation, error: unknown, redact: (text: string) => string): Error {
  const message =
    typeof (error as { message?: unknown } | null)?.message === 'string'
      ? (error as { message: string }).message
      : String(error);
  const code = Number(UPGRADE_REJECTED.exec(message)?.[1] ?? Number.NaN);
  const where = describeLocation(location);
  if (code === 404)
    return new PodNotFoundError(location, null, `${where} no longer exists (the exec was answered with 404)`);
  if (code === 400) {
    return new ContainerNotReadyError(
      location,
      [],
      `the Kubernetes API refused to exec into ${where} (400): the container is not running or does not exist`,
    );
  }
  if (!Number.isNaN(code)) {
    // A WebSocket exec is a GET: RBAC asks for `get` on pods/exec, and Kubernetes 1.35+ for `create` as well.
    const hint =
      code === 403
        ? ' (Forbidden: check the RBAC rules; an exec needs "get" and "create" on pods/exec in this namespace)'
        : code === 401
          ? ' (Unauthorized: check the credentials)'
          : '';
    return new ClusterUnreachableError(code, `Kubernetes API answered ${code}${hint} to the exec into ${where}`);
  }
  return new ClusterUnreachableError(null, redact(`cannot reach the Kubernetes API to exec into ${where}: ${message}`));
}
