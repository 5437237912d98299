import { randomUUID } from 'node:crypto';
import { utimes } from 'node:fs/promises';
import type { BackupRecord, BackupTrigger, PrismaClient } from '../../generated/prisma/client.ts';
import { type BackupEnding, type Logger, TypedFailure, type WorkObserver } from '../shared/index.ts';
import type { KubeClients } from '../kube/index.ts';
import type { SqlQuery } from '../db/index.ts';
import { runDataExport } from './data-export.ts';
import type { OffsiteDestination } from '../offsite/index.ts';
import { findRecipe } from '../recipes/index.ts';
import type { BackupStore, BackupWriter } from '../storage/index.ts';
import {
  type CheckBackupFormat,
  type CoverageSettings,
  engineVersionFromHead,
  recordFormatCheck,
} from '../verification/index.ts';
import {
  BACKUP_FAILED_ALERT,
  BACKUP_OVERDUE_ALERT,
  BACKUP_STALLED_ALERT,
  BACKUP_SUSPICIOUS_ALERT,
  changeWithAlert,
  type Notifier,
  queueDeadManPing,
  raiseAndNotify,
  resolveAlerts,
} from '../alerts/index.ts';
import { checkBackupEligibility, type SkipCode } from './backup-due.ts';
import {
  assessBackupSize,
  DEFAULT_SUSPICION_SETTINGS,
  type SizeAssessment,
  type SuspicionSettings,
} from './backup-suspicion.ts';
import { describeBackup } from './backup-manifest.ts';
import { BackupInterruptedError, summarizeFailure } from './backup-outcome.ts';
import { claimDeployment, releaseClaim, renewClaim } from './claims.ts';
import { createProgressRecorder } from './progress-recorder.ts';
import { pruneBackups } from '../retention/index.ts';
import type { AgeIdentity, AgeRecipient } from '../encryption/index.ts';
import { EncryptionMisconfiguredError, resolveBackupRecipients } from './backup-encryption.ts';

/** Everything `executeBackup` needs from the outside world; built by the entry points, replaced in tests. */
export interface BackupDependencies {
  db: PrismaClient;
  /** Hot statements run without Prisma on the same database (`Database.query`); absent: through Prisma. */
  query?: SqlQuery;
  kube: KubeClients;
  store: BackupStore;
  clock: () => Date;
  logger: Logger;
  /** Where new alerts go besides the Alert table (webhook); optional. */
  notifier?: Notifier;
  /** Off-site destinations that receive a copy of each successful backup (S3); empty or unset: local only. */
  destinations?: readonly OffsiteDestination[];
  /** The format check run after each successful backup; defaults to `checkBackupFormat` (replaced in tests). */
  checkFormat?: CheckBackupFormat;
  /** Told how each backup and restore ended (the worker counts them in its Prometheus metrics); optional. */
  observer?: WorkObserver;
  /**
   * age identities (BACKUP_AGE_IDENTITY_FILE) that read encrypted backups back: format checks, restores,
   * test-restores. Backing up needs only the recipients; absent: those checks are skipped and said so.
   */
  identities?: readonly AgeIdentity[] | undefined;
  settings: {
    /** A backup running longer is aborted. */
    timeoutMs: number;
    /** An export that receives no byte for this long is stopped as `Stalled`; default 10 min. */
    stallMs?: number;
    /** Lease of the deployment claim; renewed every third of it while the backup runs. */
    claimTtlMs: number;
    /** When a successful backup is flagged suspicious; default under 50% of the median of the last 5. */
    suspicion?: SuspicionSettings;
    /** When a dump holds too few of the live tables (format check); default: any table missing. */
    coverage?: CoverageSettings;
  };
}

export interface BackupOptions {
  trigger: BackupTrigger;
  /** Aborts the backup (worker shutdown); a reason that is a `TypedFailure` becomes the recorded failure. */
  signal?: AbortSignal;
  /** Raw bytes received so far, for progress reports. */
  onProgress?: (bytes: number) => void;
  /**
   * For scheduled backups: the `lastBackupAt` the due decision was based on. Checked again under the claim, so a
   * backup another worker finished in the meantime is not repeated.
   */
  expectedLastBackupAt?: Date | null;
  /** Called once the RUNNING record exists (an API answers 202 with its id while the backup goes on). */
  onStarted?: (record: BackupRecord) => void;
  /** The queued job this backup runs for; recorded on the BackupRecord. */
  jobId?: string;
}

/** A backup that ran (its record says how it ended), or one that did not run and why. */
export type BackupOutcome =
  | { status: 'SUCCEEDED'; record: BackupRecord; /** Backups retention deleted afterwards. */ pruned: number }
  | { status: 'FAILED'; record: BackupRecord }
  | { status: 'SKIPPED'; code: SkipCode; reason: string; runningRecord?: BackupRecord | null };

/**
 * Backs up one deployment: checks it may be backed up (RUNNING, recipe with `dataExport`), claims it so no other
 * backup of it runs anywhere, records a RUNNING BackupRecord, streams the recipe's export from the pod into the
 * backup store, and records the result. SUCCEEDED is written only after the store has committed a complete,
 * fsynced, checksummed file, in the same transaction as `deployment.lastBackupAt`. Any failure leaves no file,
 * marks the record FAILED with its typed reason and raises a critical alert. Manual and agent backups run even when
 * scheduled backups are off. A successful backup's file then gets its format check (`recordFormatCheck`).
 */
export async function executeBackup(
  deps: BackupDependencies,
  deploymentId: string,
  options: BackupOptions,
): Promise<BackupOutcome> {
  const outcome = await backUpAndCheck(deps, deploymentId, options);
  deps.observer?.backupFinished(describeEnding(outcome));
  return outcome;
}

function describeEnding(outcome: BackupOutcome): BackupEnding {
  if (outcome.status === 'SKIPPED') return { status: 'SKIPPED', sizeBytes: null, formatCheck: null };
  const { record } = outcome;
  const formatCheck = record.verifiedAt ? 'verified' : record.verifyError ? 'failed' : null;
  return { status: outcome.status, sizeBytes: record.sizeBytes, formatCheck };
}

async function backUpAndCheck(
  deps: BackupDependencies,
  deploymentId: string,
  options: BackupOptions,
): Promise<BackupOutcome> {
  const outcome = await backUpAndRecord(deps, deploymentId, options);
  if (outcome.status !== 'SUCCEEDED') return outcome;
  // The format check runs once SUCCEEDED is recorded and the claim released: a slow check (a full read of a large
  // dump) never holds the deployment's lease. Its result is recorded beside the status, never changing it.
  const checked = await recordFormatCheck(deps, outcome.record, options.signal ? { signal: options.signal } : {});
  // Resolved only now: the check may still find the dump short of tables, and a backup suspicious for that keeps the
  // alert open instead of resolving and reopening it (a new page for each such backup).
  if (!checked.record.suspicious) await resolveSuspicious(deps, deploymentId);
  return { status: 'SUCCEEDED', record: checked.record, pruned: await applyRetention(deps, deploymentId) };
}

/** A normal backup (size and tables) resolves the deployment's `backup_suspicious` alert; a failure is only logged. */
async function resolveSuspicious(deps: BackupDependencies, deploymentId: string): Promise<void> {
  await resolveAlerts(deps.db, deploymentId, [BACKUP_SUSPICIOUS_ALERT], deps.clock()).catch((error: unknown) =>
    deps.logger.error(
      { err: error, deploymentId, module: 'ops-agent/backup' },
      'could not resolve the alert of an earlier suspicious backup',
    ),
  );
}

/**
 * The deployment's own retention policy, after every successful backup whatever started it (schedule, CLI, API,
 * agent). The backup itself succeeded: a retention failure (an invalid policy, a file that cannot be deleted) is
 * logged, not turned into a failed backup.
 */
async function applyRetention(deps: BackupDependencies, deploymentId: string): Promise<number> {
  try {
    return (await pruneBackups(deps, deploymentId)).pruned.length;
  } catch (error) {
    deps.logger.error(
      { err: error, deploymentId, module: 'ops-agent/backup' },
      `retention not applied: ${error instanceof Error ? error.message : String(error)}`,
    );
    return 0;
  }
}

/** The backup itself, from the eligibility check to the recorded result and the released claim. */
async function backUpAndRecord(
  deps: BackupDependencies,
  deploymentId: string,
  options: BackupOptions,
): Promise<BackupOutcome> {
  const log = deps.logger.child({ module: 'ops-agent/backup', deploymentId, trigger: options.trigger });
  const deployment = await deps.db.deployment.findUnique({ where: { id: deploymentId }, include: { workspace: true } });
  if (!deployment)
    return { status: 'SKIPPED', code: 'NOT_FOUND', reason: `deployment "${deploymentId}" does not exist` };
  const ineligible = checkBackupEligibility(deployment);
  if (ineligible) {
    log.info({ code: ineligible.code }, `backup skipped: ${ineligible.reason}`);
    return { status: 'SKIPPED', code: ineligible.code, reason: ineligible.reason };
  }
  if (options.trigger === 'SCHEDULE' && !deployment.backupEnabled) {
    return { status: 'SKIPPED', code: 'BACKUPS_DISABLED', reason: 'scheduled backups are turned off' };
  }
  const dataExport = findRecipe(deployment.recipeSlug)?.dataExport;
  if (!dataExport) throw new Error('unreachable: eligibility checked the recipe');
  let recipients: AgeRecipient[];
  try {
    recipients = resolveBackupRecipients(deployment, deployment.workspace);
  } catch (error) {
    if (!(error instanceof EncryptionMisconfiguredError)) throw error;
    return refuseMisconfiguredEncryption(deps, deployment, options, dataExport.format, error);
  }

  const token = randomUUID();
  const startedAt = deps.clock();
  const claim = { deploymentId, token, ttlMs: deps.settings.claimTtlMs };
  // The claim and the RUNNING record commit together, so whoever finds the claim taken also finds the running record.
  const record = await deps.db.$transaction(async (tx) => {
    if (!(await claimDeployment(tx, { ...claim, now: startedAt }))) return null;
    if (options.expectedLastBackupAt !== undefined) {
      // The claim's UPDATE holds the row lock: this read sees any backup that finished before it.
      const { lastBackupAt } = await tx.deployment.findUniqueOrThrow({
        where: { id: deploymentId },
        select: { lastBackupAt: true },
      });
      if ((lastBackupAt?.getTime() ?? null) !== (options.expectedLastBackupAt?.getTime() ?? null)) {
        await releaseClaim(tx, claim);
        return 'BACKED_UP_MEANWHILE' as const;
      }
    }
    const running = await tx.backupRecord.create({
      data: {
        deploymentId,
        workspaceId: deployment.workspaceId,
        trigger: options.trigger,
        status: 'RUNNING',
        startedAt,
        format: dataExport.format,
        claimToken: token,
        jobId: options.jobId ?? null,
      },
    });
    // The dead-man `/start` ping (if the deployment has a URL) is queued with the record it announces.
    await queueDeadManPing(tx, { deploymentId, backupRecordId: running.id, event: 'start' }, startedAt);
    return running;
  });
  if (record === 'BACKED_UP_MEANWHILE') {
    return {
      status: 'SKIPPED',
      code: 'NOT_DUE',
      reason: 'another backup of this deployment finished after the schedule was checked',
    };
  }
  if (!record) {
    const runningRecord = await deps.db.backupRecord.findFirst({
      where: { deploymentId, status: 'RUNNING' },
      orderBy: { startedAt: 'desc' },
    });
    return {
      status: 'SKIPPED',
      code: 'ALREADY_RUNNING',
      reason: 'another backup of this deployment is running',
      runningRecord,
    };
  }

  let writer: BackupWriter | undefined;
  const stop = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
  const heartbeat = setInterval(
    () => {
      void (async () => {
        if (!(await renewClaim(deps.db, { ...claim, now: deps.clock() }))) {
          stop.abort(
            new BackupInterruptedError(
              'ClaimLost',
              'the backup claim expired and was taken over; this attempt was stopped',
            ),
          );
        }
        // A running backup keeps its temporary file fresh, so crash recovery never mistakes it for an orphan.
        if (writer) await utimes(writer.tempPath, deps.clock(), deps.clock()).catch(() => undefined);
      })().catch((error: unknown) => log.warn({ err: error }, 'could not renew the backup claim'));
    },
    Math.max(1_000, Math.floor(deps.settings.claimTtlMs / 3)),
  );

  // Bytes so far, every few seconds, for the dashboard and the API; also what a person watching a stuck export sees.
  const progress = createProgressRecorder({
    write: (bytes, at) =>
      deps.db.backupRecord.updateMany({
        where: { id: record.id, status: 'RUNNING' },
        data: { progressBytes: BigInt(bytes), progressAt: at },
      }),
    clock: deps.clock,
    logger: log,
  });
  const onProgress = (bytes: number) => {
    progress.report(bytes);
    options.onProgress?.(bytes);
  };

  try {
    log.info({ backupId: record.id }, 'backup started');
    options.onStarted?.(record);
    writer = await deps.store.open({
      workspaceId: deployment.workspaceId,
      deploymentName: deployment.name,
      extension: dataExport.extension,
      compressed: dataExport.compressed,
      compression: deployment.backupCompression,
      recipients,
      startedAt,
      maxBytes: deployment.maxBackupBytes,
    });
    const exported = await runDataExport(
      deps.kube,
      {
        workspaceId: deployment.workspaceId,
        namespace: deployment.namespace,
        podSelector: deployment.podSelector,
        deploymentName: deployment.name,
        dataExport,
        destination: writer.stream,
        timeoutMs: deps.settings.timeoutMs,
        ...(deps.settings.stallMs ? { stallMs: deps.settings.stallMs } : {}),
        signal,
        onProgress,
      },
      log,
    );
    if (signal.aborted) throw signal.reason;
    const suspicion = deps.settings.suspicion ?? DEFAULT_SUSPICION_SETTINGS;
    let size = { suspicious: false } as SizeAssessment;
    let finishedAt = startedAt;
    // The manifest goes into place with the file, before the record says SUCCEEDED; it carries the size judgement.
    const stored = await writer.commit(async (file) => {
      const recent = await deps.db.backupRecord.findMany({
        where: { deploymentId, status: 'SUCCEEDED', sizeBytes: { not: null } },
        orderBy: [{ startedAt: 'desc' }, { id: 'desc' }],
        take: suspicion.sampleSize,
        select: { sizeBytes: true },
      });
      size = assessBackupSize(
        file.sizeBytes,
        recent.map((earlier) => earlier.sizeBytes!),
        suspicion,
      );
      finishedAt = deps.clock();
      return describeBackup({
        record,
        deployment,
        dataExport,
        stored: file,
        rawBytes: exported.bytes,
        trigger: options.trigger,
        startedAt,
        finishedAt,
        size,
        engineVersion: engineVersionFromHead(dataExport.format, writer!.head()),
      });
    });
    await progress.settle();
    const [succeeded] = await deps.db.$transaction([
      deps.db.backupRecord.update({
        where: { id: record.id },
        data: {
          status: 'SUCCEEDED',
          path: stored.path,
          sizeBytes: stored.sizeBytes,
          sha256: stored.sha256,
          extension: stored.extension,
          encryptedTo: stored.encryptedTo.length > 0 ? stored.encryptedTo.join(',') : null,
          finishedAt,
          durationMs: finishedAt.getTime() - startedAt.getTime(),
          exitCode: 0,
          stderrTail: exported.stderrTail || null,
          progressBytes: BigInt(exported.bytes),
          progressAt: finishedAt,
          suspicious: size.suspicious,
          suspiciousReason: size.suspicious ? size.reason : null,
          liveTableCount: exported.liveTableCount,
        },
      }),
      deps.db.deployment.update({ where: { id: deploymentId }, data: { lastBackupAt: startedAt } }),
      queueDeadManPing(deps.db, { deploymentId, backupRecordId: record.id, event: 'success' }, finishedAt),
    ]);
    await resolveAlerts(
      deps.db,
      deploymentId,
      [BACKUP_FAILED_ALERT, BACKUP_STALLED_ALERT, BACKUP_OVERDUE_ALERT],
      finishedAt,
    );
    log.info(
      {
        backupId: record.id,
        path: stored.path,
        sizeBytes: Number(stored.sizeBytes),
        sha256: stored.sha256,
        pod: exported.pod,
        suspicious: size.suspicious,
      },
      size.suspicious ? `backup succeeded but is suspicious: ${size.reason}` : 'backup succeeded',
    );
    if (size.suspicious) {
      await raiseAndNotify(
        deps.db,
        deps.notifier,
        {
          workspaceId: deployment.workspaceId,
          deploymentId,
          deploymentName: deployment.name,
          backupRecordId: record.id,
          severity: 'WARNING',
          kind: BACKUP_SUSPICIOUS_ALERT,
          message:
            `Backup of ${deployment.workspace.slug}/${deployment.name} succeeded but is suspicious: ${size.reason}. ` +
            'Check that the data is all there; retention keeps the earlier backups of normal size.',
        },
        finishedAt,
      ).catch((alertError: unknown) =>
        log.error({ err: alertError }, 'could not record the alert for a suspicious backup'),
      );
    }
    return { status: 'SUCCEEDED', record: succeeded, pruned: 0 };
  } catch (caught) {
    await writer?.abort();
    await progress.settle();
    const error = signal.aborted && signal.reason instanceof TypedFailure ? signal.reason : caught;
    const failure = summarizeFailure(error);
    const finishedAt = deps.clock();
    log.error(
      { backupId: record.id, kind: failure.kind, exitCode: failure.exitCode },
      `backup failed: ${failure.message}`,
    );
    // The FAILED record, its dead-man ping and its alert are written together: a failure never goes unalerted.
    const { result: failed } = await changeWithAlert(
      deps.db,
      deps.notifier,
      finishedAt,
      async (tx) => {
        const updated = await tx.backupRecord.update({
          where: { id: record.id },
          data: {
            status: 'FAILED',
            finishedAt,
            durationMs: finishedAt.getTime() - startedAt.getTime(),
            errorKind: failure.kind,
            error: failure.message,
            exitCode: failure.exitCode,
            stderrTail: failure.stderrTail,
          },
        });
        await queueDeadManPing(tx, { deploymentId, backupRecordId: record.id, event: 'fail' }, finishedAt);
        return updated;
      },
      () => ({
        workspaceId: deployment.workspaceId,
        deploymentId,
        deploymentName: deployment.name,
        backupRecordId: record.id,
        severity: 'CRITICAL',
        kind: failure.kind === 'Stalled' ? BACKUP_STALLED_ALERT : BACKUP_FAILED_ALERT,
        message:
          `Backup of ${deployment.workspace.slug}/${deployment.name} failed (${failure.kind}): ${failure.message}. ` +
          `Data-loss risk: the last successful backup is from ${deployment.lastBackupAt?.toISOString() ?? 'never'}.`,
      }),
    );
    return { status: 'FAILED', record: failed };
  } finally {
    clearInterval(heartbeat);
    await releaseClaim(deps.db, claim).catch((error: unknown) =>
      log.warn({ err: error }, 'could not release the backup claim'),
    );
  }
}

/**
 * Encryption is configured but unusable: no export runs and no file is opened. The attempt is recorded FAILED
 * (`EncryptionMisconfigured`, so the history says why no backup exists) with a critical alert; the claim is not
 * needed because nothing is written.
 */
async function refuseMisconfiguredEncryption(
  deps: BackupDependencies,
  deployment: { id: string; name: string; workspaceId: string; lastBackupAt: Date | null; workspace: { slug: string } },
  options: BackupOptions,
  format: string,
  error: EncryptionMisconfiguredError,
): Promise<BackupOutcome> {
  const now = deps.clock();
  const log = deps.logger.child({ module: 'ops-agent/backup', deploymentId: deployment.id });
  log.error({ kind: error.kind, source: error.source }, `backup refused: ${error.message}`);
  const { result: failed } = await changeWithAlert(
    deps.db,
    deps.notifier,
    now,
    (tx) =>
      tx.backupRecord.create({
        data: {
          deploymentId: deployment.id,
          workspaceId: deployment.workspaceId,
          trigger: options.trigger,
          status: 'FAILED',
          startedAt: now,
          finishedAt: now,
          durationMs: 0,
          format,
          errorKind: error.kind,
          error: error.message,
          jobId: options.jobId ?? null,
        },
      }),
    (created) => ({
      workspaceId: deployment.workspaceId,
      deploymentId: deployment.id,
      deploymentName: deployment.name,
      backupRecordId: created.id,
      severity: 'CRITICAL',
      kind: BACKUP_FAILED_ALERT,
      message:
        `Backup of ${deployment.workspace.slug}/${deployment.name} not started (EncryptionMisconfigured): ${error.message}. ` +
        `Data-loss risk: the last successful backup is from ${deployment.lastBackupAt?.toISOString() ?? 'never'}.`,
    }),
  );
  return { status: 'FAILED', record: failed };
}
