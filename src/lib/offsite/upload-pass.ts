import { backupFileReferenceOf, locateBackupFile } from '../storage/index.ts';
import type { PrismaClient } from '../../generated/prisma/client.ts';
import { changeWithAlert, type Notifier, resolveAlerts, UPLOAD_FAILED_ALERT } from '../alerts/index.ts';
import { formatBytes, type Logger, redactSecrets, runWithConcurrency } from '../shared/index.ts';
import type { OffsiteDestination } from './destination.ts';
import {
  DEFAULT_UPLOAD_RETRY_POLICY,
  planUploadRetry,
  type UploadRetryDecision,
  type UploadRetryPolicy,
} from './upload-backoff.ts';
import {
  countRetryingUploads,
  findDueUploads,
  leaseUpload,
  markUploaded,
  queueMissingUploads,
  recordFailedAttempt,
  renewUploadLease,
  type DueUpload,
} from './upload-records.ts';
import { manifestKeyFor, uploadManifest } from './manifest-copy.ts';

/** What the upload pass needs (a subset of the backup dependencies). */
export interface UploadPassDependencies {
  db: PrismaClient;
  /** The backup volume: a record's file is located in it (`locateBackupFile`) before it is uploaded. */
  store: { root: string };
  /** Where copies go; empty or unset: nothing to upload. */
  destinations?: readonly OffsiteDestination[];
  clock: () => Date;
  logger: Logger;
  notifier?: Notifier;
}

export interface UploadPassOptions {
  /** Only this backup's uploads (the operator's `upload --backup <id>`). */
  backupId?: string;
  /** Aborts uploads in progress (worker shutdown); they are handed back without counting as an attempt. */
  signal?: AbortSignal;
  /** Uploads at the same time. Default 2. */
  concurrency?: number;
  retryPolicy?: UploadRetryPolicy;
  /** How long a worker holds an upload before another may take it; renewed every third of it. Default 5 min. */
  leaseMs?: number;
  /** Most uploads one pass attempts. Default 100. */
  batchSize?: number;
}

/** What one pass did. */
export interface UploadPassSummary {
  /** Upload rows added for backups that had none. */
  queued: number;
  attempted: number;
  uploaded: number;
  /** Failed attempts that will be retried. */
  retrying: number;
  /** Uploads given up (attempts exhausted, or the local file is gone). */
  failed: number;
}

const MAX_ERROR_LENGTH = 1_000;
/** Progress of a long upload is logged at most this often. */
const PROGRESS_INTERVAL_MS = 30_000;

/**
 * One pass of off-site uploads: queue a PENDING upload for each successful backup that has none on a configured
 * destination, then upload the due ones (`nextAttemptAt <= now`), at most `concurrency` at once. A success marks the
 * row UPLOADED and resolves the deployment's upload alert; a failure counts an attempt, plans the next one with
 * exponential backoff (FAILED after the last) and raises a WARNING alert. The backup's own record is never touched:
 * an upload failure does not make a good local backup look failed.
 */
export async function runUploadPass(
  deps: UploadPassDependencies,
  now: Date,
  options: UploadPassOptions = {},
): Promise<UploadPassSummary> {
  const summary: UploadPassSummary = { queued: 0, attempted: 0, uploaded: 0, retrying: 0, failed: 0 };
  const destinations = deps.destinations ?? [];
  if (destinations.length === 0) return summary;
  const log = deps.logger.child({ module: 'offsite/upload' });
  for (const destination of destinations) {
    const { queued, unqueued } = await queueMissingUploads(deps.db, destination, now, options.backupId);
    summary.queued += queued;
    for (const backup of unqueued)
      log.error(backup, `backup ${backup.backupRecordId} cannot be uploaded to ${destination.name}: ${backup.reason}`);
  }
  const byName = new Map(destinations.map((destination) => [destination.name, destination]));
  const due = await findDueUploads(deps.db, [...byName.keys()], now, {
    limit: options.batchSize ?? 100,
    ...(options.backupId ? { backupId: options.backupId } : {}),
  });
  await runWithConcurrency(due, options.concurrency ?? 2, options.signal, async (upload) => {
    const result = await attemptUpload(deps, byName.get(upload.destination)!, upload, options, log).catch(
      (error: unknown) => {
        log.error({ err: error, uploadId: upload.id }, 'an upload attempt crashed; it is tried again after its lease');
        return 'skipped' as const;
      },
    );
    if (result !== 'skipped') summary.attempted += 1;
    if (result === 'uploaded') summary.uploaded += 1;
    if (result === 'PENDING') summary.retrying += 1;
    if (result === 'FAILED') summary.failed += 1;
  });
  if (summary.queued + summary.attempted > 0) {
    log.info(
      summary,
      `upload pass: ${summary.queued} queued, ${summary.uploaded} uploaded, ${summary.retrying} to retry, ${summary.failed} given up`,
    );
  }
  return summary;
}

type AttemptResult = 'uploaded' | 'skipped' | UploadRetryDecision['status'];

async function attemptUpload(
  deps: UploadPassDependencies,
  destination: OffsiteDestination,
  upload: DueUpload,
  options: UploadPassOptions,
  parentLog: Logger,
): Promise<AttemptResult> {
  const leaseMs = options.leaseMs ?? 5 * 60_000;
  if (!(await leaseUpload(deps.db, upload, new Date(deps.clock().getTime() + leaseMs)))) return 'skipped';
  const backup = upload.backupRecord;
  const log = parentLog.child({
    uploadId: upload.id,
    backupRecordId: backup.id,
    destination: destination.name,
    key: upload.objectKey,
  });
  const heartbeat = setInterval(() => {
    renewUploadLease(deps.db, upload.id, new Date(deps.clock().getTime() + leaseMs)).catch((error: unknown) =>
      log.warn({ err: error }, 'could not renew the upload lease'),
    );
  }, leaseMs / 3);
  const started = deps.clock();
  try {
    const located = await locateUploadFile(deps.store.root, backup);
    if (!located.ok)
      return await recordFailure(
        deps,
        destination,
        upload,
        { status: 'FAILED', attempts: upload.attempts + 1 },
        located.reason,
        log,
      );
    log.info(
      { sizeBytes: String(backup.sizeBytes) },
      `uploading backup ${backup.id} (${formatBytes(backup.sizeBytes)}) to ${destination.name}`,
    );
    let lastReport = started.getTime();
    await destination.upload({
      key: upload.objectKey,
      localPath: located.path,
      sha256: backup.sha256!,
      sizeBytes: backup.sizeBytes!,
      ...(options.signal ? { signal: options.signal } : {}),
      onProgress: (bytesSent) => {
        const now = deps.clock().getTime();
        if (now - lastReport < PROGRESS_INTERVAL_MS) return;
        lastReport = now;
        log.info(
          { bytesSent },
          `uploading backup ${backup.id}: ${formatBytes(bytesSent)} of ${formatBytes(backup.sizeBytes)} sent`,
        );
      },
    });
    const withManifest = await uploadManifest(destination, {
      objectKey: upload.objectKey,
      localPath: backup.path!,
      signal: options.signal,
    });
    if (!withManifest) log.info(`backup ${backup.id} has no manifest (made before manifests): only its file goes`);
    const finished = deps.clock();
    if (!(await markUploaded(deps.db, upload.id, finished))) {
      // Retention deleted the backup meanwhile (and with it this row): its copy must not outlive it.
      await destination.delete(upload.objectKey);
      await destination.delete(manifestKeyFor(upload.objectKey));
      log.warn(`backup ${backup.id} was pruned while it was uploaded; its copy was deleted again`);
      return 'skipped';
    }
    if ((await countRetryingUploads(deps.db, backup.deploymentId)) === 0) {
      await resolveAlerts(deps.db, backup.deploymentId, [UPLOAD_FAILED_ALERT], finished);
    }
    log.info(
      { ms: finished.getTime() - started.getTime() },
      `backup ${backup.id} uploaded to ${destination.name} and verified`,
    );
    return 'uploaded';
  } catch (error) {
    if (options.signal?.aborted) {
      // Shutting down is not the destination's fault: hand the upload back for the next worker, no attempt counted.
      await renewUploadLease(deps.db, upload.id, deps.clock());
      log.warn('upload interrupted by shutdown; it will be tried again');
      return 'skipped';
    }
    const decision = planUploadRetry(upload.attempts, deps.clock(), options.retryPolicy ?? DEFAULT_UPLOAD_RETRY_POLICY);
    return await recordFailure(
      deps,
      destination,
      upload,
      decision,
      redactSecrets(error instanceof Error ? error.message : String(error)),
      log,
    );
  } finally {
    clearInterval(heartbeat);
  }
}

/**
 * The backup's file, located in its deployment's folder (`locateBackupFile`), or why there is nothing to upload: not
 * SUCCEEDED, its file gone, or a recorded path that is refused (outside the folder, a link).
 */
async function locateUploadFile(
  root: string,
  backup: DueUpload['backupRecord'],
): Promise<{ ok: true; path: string } | { ok: false; reason: string }> {
  if (backup.status !== 'SUCCEEDED' || !backup.path || !backup.sha256 || backup.sizeBytes === null) {
    return {
      ok: false,
      reason: `backup ${backup.id} is ${backup.status} without a complete file: there is nothing to upload`,
    };
  }
  const location = await locateBackupFile(root, backupFileReferenceOf(backup));
  if (location.ok) return { ok: true, path: location.path };
  if (location.reason === 'missing')
    return {
      ok: false,
      reason: `the local backup file ${backup.path} no longer exists (it was deleted before it was uploaded); nothing to upload`,
    };
  if (location.reason === 'volume-unavailable') throw new Error(location.detail);
  return { ok: false, reason: `the local backup file is refused: ${location.detail}; nothing is uploaded` };
}

async function recordFailure(
  deps: UploadPassDependencies,
  destination: OffsiteDestination,
  upload: DueUpload,
  decision: UploadRetryDecision,
  reason: string,
  log: Logger,
): Promise<AttemptResult> {
  const backup = upload.backupRecord;
  const lastError = reason.length > MAX_ERROR_LENGTH ? `${reason.slice(0, MAX_ERROR_LENGTH)}…` : reason;
  const what = `Off-site copy of backup ${backup.id} of ${backup.deployment.workspace.slug}/${backup.deployment.name} (${backup.startedAt.toISOString()}) to ${destination.name}`;
  const outcome =
    decision.status === 'PENDING'
      ? `failed (attempt ${decision.attempts}); next attempt at ${decision.nextAttemptAt.toISOString()}`
      : `failed for good after ${decision.attempts} attempt(s); retry with \`npm run backup -- upload --backup ${backup.id}\``;
  const message = `${what} ${outcome}: ${lastError}. The local backup is not affected.`;
  // The message says it all; the SDK error behind it would log whole HTTP responses.
  log.warn({ attempts: decision.attempts, status: decision.status }, message);
  // The attempt and its alert together or neither: recorded alone, a last attempt (FAILED for good) whose alert was
  // lost to a stopped process would never be tried, nor alerted, again. Neither written, the upload stays leased and
  // is tried again once the lease runs out (the pass logs the crash).
  await changeWithAlert(
    deps.db,
    deps.notifier,
    deps.clock(),
    (tx) => recordFailedAttempt(tx, upload.id, decision, lastError),
    () => ({
      workspaceId: backup.workspaceId,
      deploymentId: backup.deploymentId,
      deploymentName: backup.deployment.name,
      backupRecordId: backup.id,
      severity: 'WARNING',
      kind: UPLOAD_FAILED_ALERT,
      message,
    }),
  );
  return decision.status;
}
