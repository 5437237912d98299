export { AbortedError, type ExecLocation, StalledError, TimeoutError } from './exec-errors.ts';
export { DEFAULT_STALL_MS } from './stall-watchdog.ts';
export { execToStream } from './exec-stream.ts';
export { execWithInput } from './exec-with-input.ts';
export {
  createKubeClients,
  type KubeClients,
  type KubeConfigSource,
  loadKubeConfig,
  noKubeClients,
} from './kube-clients.ts';
export { defaultPodSelector, resolveExportTarget } from './pod-resolver.ts';
export { withinLimits } from './within-limits.ts';
