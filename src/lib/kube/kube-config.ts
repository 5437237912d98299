import { KubeConfig } from '@kubernetes/client-node';

/**
 * The cluster credentials: the kubeconfig file at `kubeconfigPath` when given; otherwise the pod's service account
 * when running inside a cluster (`KUBERNETES_SERVICE_HOST` is set); otherwise the default lookup (`$KUBECONFIG`,
 * then `~/.kube/config`).
 */
export function loadKubeConfig(options: { kubeconfigPath?: string } = {}): KubeConfig {
  const kubeConfig = new KubeConfig();
  if (options.kubeconfigPath) kubeConfig.loadFromFile(options.kubeconfigPath);
  else if (process.env.KUBERNETES_SERVICE_HOST) kubeConfig.loadFromCluster();
  else kubeConfig.loadFromDefault();
  return kubeConfig;
}
