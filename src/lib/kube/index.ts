export {
  AbortedError,
  type ExecLocation,
  InvalidTargetError,
  PodNotOwnedError,
  StalledError,
  TimeoutError,
} from './exec-errors.ts';
export { DEFAULT_STALL_MS } from './stall-watchdog.ts';
export { execToStream } from './exec-stream.ts';
export { execWithInput } from './exec-with-input.ts';
export {
  createKubeClients,
  lazyKubeClients,
  type KubeClients,
  type KubeConfigSource,
  loadKubeConfig,
  noKubeClients,
} from './kube-clients.ts';
export { DEFAULT_WORKSPACE_LABEL, defaultPodSelector, resolveExportTarget } from './pod-resolver.ts';
export {
  isLabelKey,
  labelSelectorProblem,
  namespaceSchema,
  podQueryProblems,
  podQuerySchema,
  podSelectorSchema,
} from './pod-query.ts';
export { withinLimits } from './within-limits.ts';
