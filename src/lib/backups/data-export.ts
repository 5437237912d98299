import type { Writable } from 'node:stream';
import { type Logger, redactSecrets, TypedFailure } from '../shared/index.ts';
import type { DataExport } from '../recipes/index.ts';
import {
  AbortedError,
  defaultPodSelector,
  type ExecLocation,
  execToStream,
  type KubeClients,
  resolveExportTarget,
  TimeoutError,
  withinLimits,
} from '../kube/index.ts';
import { countLiveTables } from './live-tables.ts';

export interface DataExportRequest {
  /** The deployment's workspace: only its pods qualify (see `resolveExportTarget`). */
  workspaceId: string;
  namespace: string;
  /** Label selector of the deployment's pods; null: `defaultPodSelector(deploymentName)`. */
  podSelector: string | null;
  deploymentName: string;
  dataExport: DataExport;
  /** Receives the raw export in order, with backpressure. Not ended here: the caller ends and commits it. */
  destination: Writable;
  /** Bounds the pod lookup and, separately, the exec (connect to exit status). */
  timeoutMs: number;
  /** The exec is stopped as `Stalled` when no byte arrives for this long (default 10 min). */
  stallMs?: number;
  signal?: AbortSignal;
  /** Called every `PROGRESS_STEP_BYTES` (8 MiB) of output. */
  onProgress?: (bytes: number) => void;
}

export interface DataExportResult {
  pod: string;
  container: string;
  bytes: number;
  /** The last lines of the command's stderr, redacted (a successful dump may still warn). */
  stderrTail: string;
  /**
   * Tables the database held just before the export (`dataExport.liveTables`); null when the recipe has no count or
   * it failed (logged as a warning: the export went on without it).
   */
  liveTableCount: number | null;
}

/** The argv sent to the container: a copy of the recipe's constant command (no data is ever glued into it). */
export function buildExportCommand(dataExport: DataExport): string[] {
  return [...dataExport.command];
}

/**
 * Exports a deployment's data: finds a Running pod whose export container is ready, counts its live tables when the
 * recipe says how (`countLiveTables`; a failed count is only a warning), runs the recipe's command in it and streams
 * stdout into `request.destination`. Resolves only after a Success exit status, a clean close and a
 * non-empty output. Rejects with a `TypedFailure` subclass whose message is already redacted (including the
 * container's own secret values), or with the destination's error unchanged when writing failed (a storage failure).
 */
export async function runDataExport(
  clients: KubeClients,
  request: DataExportRequest,
  logger: Logger,
): Promise<DataExportResult> {
  const log = logger.child({ module: 'deployer/data-export' });
  const { namespace, dataExport, timeoutMs, signal } = request;
  const podSelector = request.podSelector ?? defaultPodSelector(request.deploymentName);
  const container = dataExport.container;
  let location: ExecLocation = { namespace, pod: null, container };
  try {
    const resolving = () =>
      resolveExportTarget(clients.core, {
        namespace,
        podSelector,
        container,
        workspaceId: request.workspaceId,
        workspaceLabel: clients.workspaceLabel,
      });
    const target = await withinLimits(resolving, {
      timeoutMs,
      signal,
      aborted: () => new AbortedError('export', location, 0),
      timedOut: () => new TimeoutError('export', location, timeoutMs, 0),
    });
    location = { ...location, pod: target.pod };
    const redact = (text: string) => redactSecrets(text, target.secretValues);
    // Counted right before the dump, in the same container: tables created in between are in the dump and not in
    // the count, so they can only make the dump look fuller, never short.
    const liveTables = dataExport.liveTables
      ? await countLiveTables(
          clients.exec,
          { namespace, pod: target.pod, container, command: dataExport.liveTables.command, timeoutMs, signal, redact },
          log,
        )
      : null;
    log.info({ namespace, pod: target.pod, container }, 'data export started');
    const { bytes, stderrTail } = await execToStream(clients.exec, {
      namespace,
      pod: target.pod,
      container,
      command: buildExportCommand(dataExport),
      destination: request.destination,
      timeoutMs,
      ...(request.stallMs ? { stallMs: request.stallMs } : {}),
      signal,
      onProgress: request.onProgress,
      redact,
    });
    log.info({ namespace, pod: target.pod, container, bytes }, 'data export finished');
    return { pod: target.pod, container, bytes, stderrTail, liveTableCount: liveTables?.ok ? liveTables.count : null };
  } catch (error) {
    // Anything else came from the destination (the storage layer classifies it).
    const kind = error instanceof TypedFailure ? error.kind : null;
    log.warn({ ...location, kind, err: error }, 'data export failed');
    throw error;
  }
}
