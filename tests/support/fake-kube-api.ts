// The fake Kubernetes API server lives in src/dev/local-cluster (the demo runs against it too); tests import it here.
import {
  startFakeKubeApi as startFakeKubeApiServer,
  type FakeKubeApi,
  type FakeKubeApiOptions,
  type FakePod,
} from '../../src/dev/local-cluster/fake-kube-api.ts';
import { matchesLabelSelector, parseLabelSelector } from '../../src/dev/local-cluster/fake-kube-label-selector.ts';
import { DEFAULT_WORKSPACE_LABEL, defaultPodSelector } from '../../src/lib/kube/index.ts';

export * from '../../src/dev/local-cluster/fake-kube-api.ts';

/** The deployments created so far through the factories (`createDeployment`), for {@link workspaceLabelsOf}. */
const deployments: Array<{ namespace: string; selector: string; workspaceId: string }> = [];

/** Called by `createDeployment`: the pods this deployment's selector finds carry its workspace's label from now on. */
export function registerDeploymentPods(deployment: {
  namespace: string;
  podSelector: string | null;
  name: string;
  workspaceId: string;
}): void {
  deployments.push({
    namespace: deployment.namespace,
    selector: deployment.podSelector ?? defaultPodSelector(deployment.name),
    workspaceId: deployment.workspaceId,
  });
}

/**
 * The workspace label a test pod carries, as a platform would set it: the workspace of the newest deployment created
 * through the factories whose namespace and selector find the pod. A pod's own labels win (tests of pods of another
 * workspace set it themselves).
 */
export function workspaceLabelsOf(pod: FakePod): Record<string, string> {
  for (const deployment of [...deployments].reverse()) {
    if (deployment.namespace !== pod.namespace) continue;
    const selector = parseLabelSelector(deployment.selector);
    if (selector.ok && matchesLabelSelector(pod.labels ?? {}, selector.requirements))
      return { [DEFAULT_WORKSPACE_LABEL]: deployment.workspaceId };
  }
  return {};
}

/** The fake API server, with test pods labelled for the workspace of the deployment they serve. */
export function startFakeKubeApi(options: FakeKubeApiOptions = {}): Promise<FakeKubeApi> {
  return startFakeKubeApiServer({ podLabels: workspaceLabelsOf, ...options });
}

/** A Running pod with one ready container, labelled the way the default pod selector finds `deploymentName`. */
export function podFor(
  deploymentName: string,
  container: string,
  env: Record<string, string>,
  overrides: Partial<FakePod> = {},
): FakePod {
  return {
    namespace: 'apps',
    name: `${deploymentName}-0`,
    labels: { 'app.kubernetes.io/instance': deploymentName },
    phase: 'Running',
    containers: [{ name: container, ready: true, env }],
    ...overrides,
  };
}
