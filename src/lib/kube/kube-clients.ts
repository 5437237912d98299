import type { CoreV1Api, Exec, KubeConfig } from '@kubernetes/client-node';
import { loadClientNode } from './client-node.ts';
import { openExecSocket } from './exec-socket.ts';
import { DEFAULT_WORKSPACE_LABEL } from './pod-resolver.ts';

/** The two Kubernetes clients exports and imports need (pod lookup and exec), and how pods are tied to workspaces. */
export interface KubeClients {
  core: CoreV1Api;
  exec: Exec;
  /** The label a pod (or its namespace) carries with its workspace's id (`POD_WORKSPACE_LABEL`). */
  workspaceLabel: string;
}

/**
 * Clients for a process that must not reach the cluster (the web process: it only queues work for workers). Any
 * call fails at once with `reason`, so a code path that would exec from the wrong process fails loudly instead of
 * quietly needing `pods/exec` there.
 */
export function noKubeClients(reason: string): KubeClients {
  const refuse = new Proxy(
    {},
    {
      get: (_target, property) =>
        typeof property === 'symbol' || property === 'then'
          ? undefined
          : () => {
              throw new Error(`kube: ${reason} (${String(property)} was called)`);
            },
    },
  );
  return { core: refuse as CoreV1Api, exec: refuse as Exec, workspaceLabel: DEFAULT_WORKSPACE_LABEL };
}

/** Builds the clients from a loaded KubeConfig (see `loadKubeConfig`). */
export function createKubeClients(kubeConfig: KubeConfig, options: { workspaceLabel?: string } = {}): KubeClients {
  const { CoreV1Api, Exec, WebSocketHandler } = loadClientNode();
  return {
    core: kubeConfig.makeApiClient(CoreV1Api),
    exec: new Exec(kubeConfig, new WebSocketHandler(kubeConfig, openExecSocket)),
    workspaceLabel: options.workspaceLabel ?? DEFAULT_WORKSPACE_LABEL,
  };
}

/**
 * Clients built by `make` on first use (then kept): a process loads client-node and its credentials only once it
 * looks up a pod. `make`'s failure (an unreadable kubeconfig) is thrown at that use, every time until one succeeds.
 */
export function lazyKubeClients(make: () => KubeClients, workspaceLabel: string): KubeClients {
  let made: KubeClients | undefined;
  const clients = () => (made ??= make());
  return {
    get core() {
      return clients().core;
    },
    get exec() {
      return clients().exec;
    },
    workspaceLabel,
  };
}

/** Where `loadKubeConfig` takes the cluster credentials from. */
export interface KubeConfigSource {
  /** A kubeconfig file (KUBECONFIG); wins over everything else. */
  kubeconfigPath?: string;
  /**
   * In a cluster: the folder the service-account files are read under
   * (`{root}/var/run/secrets/kubernetes.io/serviceaccount/token`, `ca.crt`, `namespace`); unset: the pod's own mount.
   */
  serviceAccountRoot?: string;
}

/**
 * The cluster credentials: the kubeconfig file at `kubeconfigPath` when given; otherwise the pod's service account
 * when running inside a cluster (`KUBERNETES_SERVICE_HOST` is set in the process environment): the API server at
 * `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`, its CA from `ca.crt` and the token from `token`, which
 * client-node reads again every minute (projected tokens are rotated); otherwise the default lookup (`$KUBECONFIG`,
 * then `~/.kube/config`).
 */
export function loadKubeConfig(source: KubeConfigSource = {}): KubeConfig {
  const kubeConfig = new (loadClientNode().KubeConfig)();
  if (source.kubeconfigPath) kubeConfig.loadFromFile(source.kubeconfigPath);
  else if (process.env.KUBERNETES_SERVICE_HOST) kubeConfig.loadFromCluster(source.serviceAccountRoot ?? '');
  else kubeConfig.loadFromDefault();
  return kubeConfig;
}
