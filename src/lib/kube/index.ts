export { AbortedError, type ExecLocation, TimeoutError } from './exec-errors.ts';
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
export { defaultPodSelector, resolveExportTarget } from './pod-resolver.ts';
export { withinLimits } from './within-limits.ts';
