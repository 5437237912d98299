/**
 * Runs the format check of a finished backup and records what it found on the BackupRecord, next to its status:
 * `verifiedAt` + `verifyMethod` when the file passed, `verifyError` + `verifyMethod` when it did not (or the check
 * could not run), with a critical `backup_unverified` alert. The record stays SUCCEEDED either way: SUCCEEDED says
 * the pod's export ended well and its bytes are stored intact (sha256); the format check is a separate fact about
 * those bytes, shown beside it. Retention keeps relying on SUCCEEDED, and the alert makes sure a person looks.
 *
 * A file that passed and whose tables the check counted gets `dumpTableCount`; holding fewer tables than the
 * database had before the export (`liveTableCount`, judged by table-coverage.ts) makes the backup suspicious, as a
 * far smaller size does, with a `backup_suspicious` warning: retention then keeps the earlier backups.
 *
 * Never throws: an unexpected failure of the check is recorded as a `verifyError`; only a check interrupted by the
 * caller's signal (worker shutdown) leaves the record as it was (not checked), because that says nothing about the file.
 */
import type { BackupRecord, PrismaClient } from '../../generated/prisma/client.ts';
import type { AgeIdentity } from '../encryption/index.ts';
import { keepStart, type Logger, redactSecrets } from '../shared/index.ts';
import { encodingOfExtension, flagManifestSuspicious } from '../storage/index.ts';
import {
  type AlertWithName,
  BACKUP_SUSPICIOUS_ALERT,
  BACKUP_UNVERIFIED_ALERT,
  changeWithAlert,
  type Notifier,
  raiseAndNotify,
} from '../alerts/index.ts';
import { type BackupFileLocation, backupFileReferenceOf, locateBackupFile } from '../storage/index.ts';
import {
  checkBackupFormat,
  FormatCheckUnavailableError,
  type FormatCheck,
  type FormatCheckInput,
  type FormatCheckOptions,
} from './format-check.ts';
import { describeTables } from './dump-tables.ts';
import { assessTableCoverage, type CoverageAssessment, type CoverageSettings } from './table-coverage.ts';

/** The format check as a replaceable dependency (tests inject one that throws). */
export type CheckBackupFormat = (file: FormatCheckInput, options: FormatCheckOptions) => Promise<FormatCheck | null>;

export interface FormatCheckDependencies {
  db: PrismaClient;
  /** The backup volume: the record's file is located in it (`locateBackupFile`) before anything reads it. */
  store: { root: string };
  clock: () => Date;
  logger: Logger;
  notifier?: Notifier;
  /** Defaults to {@link checkBackupFormat}. */
  checkFormat?: CheckBackupFormat;
  /** age identities (BACKUP_AGE_IDENTITY_FILE) for encrypted backups; absent: their checks are skipped and said so. */
  identities?: readonly AgeIdentity[] | undefined;
  settings: {
    /** A check running longer is stopped and recorded as failed to run. */
    timeoutMs: number;
    /** When a dump holds too few tables; default: any table missing (`DEFAULT_COVERAGE_SETTINGS`). */
    coverage?: CoverageSettings;
  };
}

/** What happened to the record: checked (passed or failed), not checkable (no check for its format), or interrupted. */
export type FormatCheckOutcome = 'verified' | 'failed' | 'no-check' | 'interrupted';

/** The record as it is now, what happened, and a sentence for a person (the check's finding or its error). */
export interface FormatCheckReport {
  record: BackupRecord;
  outcome: FormatCheckOutcome;
  detail: string;
}

const MAX_ERROR_CHARS = 1_000;
/** `verifyMethod` of a record whose file was refused or missing before any check ran. */
export const LOCATE_METHOD = 'locate';

/** The record's file, located in its deployment's folder (the deployment's name is read for it). */
async function locateFileOf(deps: FormatCheckDependencies, record: BackupRecord): Promise<BackupFileLocation> {
  const deployment = await deps.db.deployment.findUniqueOrThrow({
    where: { id: record.deploymentId },
    select: { name: true },
  });
  return locateBackupFile(deps.store.root, backupFileReferenceOf({ ...record, deployment }));
}

/** Checks the file of a SUCCEEDED backup and records the result; returns the updated record and the outcome. */
export async function recordFormatCheck(
  deps: FormatCheckDependencies,
  record: BackupRecord,
  options: { signal?: AbortSignal } = {},
): Promise<FormatCheckReport> {
  const log = deps.logger.child({
    module: 'verification/format-check',
    backupId: record.id,
    deploymentId: record.deploymentId,
  });
  if (record.status !== 'SUCCEEDED' || !record.path)
    return { record, outcome: 'no-check', detail: `the backup is ${record.status}: there is no file` };
  if (encodingOfExtension(record.extension ?? '').encrypted && !deps.identities?.length) {
    // A worker without the identity still backs up; it says which check it could not run instead of failing one.
    const detail = `the backup is encrypted and this worker has no age identity (BACKUP_AGE_IDENTITY_FILE): format check not run`;
    log.warn({ extension: record.extension }, detail);
    return { record, outcome: 'no-check', detail };
  }
  const check = deps.checkFormat ?? checkBackupFormat;
  const timeout = AbortSignal.timeout(deps.settings.timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  const startedAt = Date.now();
  let result: FormatCheck | null;
  let location: BackupFileLocation | undefined;
  try {
    location = await locateFileOf(deps, record);
    result = location.ok
      ? await check(
          { path: location.path, format: record.format, extension: record.extension },
          { signal, ...(deps.identities ? { identities: deps.identities } : {}) },
        )
      : { ok: false, method: LOCATE_METHOD, error: `the file was not checked: ${location.detail}` };
  } catch (error) {
    if (options.signal?.aborted) {
      log.warn('format check interrupted; the backup stays unchecked');
      return { record, outcome: 'interrupted', detail: 'the check was interrupted' };
    }
    const method = error instanceof FormatCheckUnavailableError ? error.method : 'format-check';
    const reason = timeout.aborted
      ? `it took longer than ${deps.settings.timeoutMs} ms`
      : error instanceof Error
        ? error.message
        : String(error);
    result = { ok: false, method, error: `the format check could not run: ${reason}` };
  }
  if (result === null) {
    log.debug({ format: record.format }, 'no format check for this format');
    return {
      record,
      outcome: 'no-check',
      detail: `there is no format check for ${record.format ?? 'an unknown format'} files`,
    };
  }
  const ms = Date.now() - startedAt;
  try {
    if (result.ok) {
      const coverage = judgeCoverage(record, result.tables, deps.settings.coverage);
      // Judged and recorded the first time the tables are counted; a later re-check only says it again.
      const newlyShort = coverage.short && record.dumpTableCount === null;
      const verified = await deps.db.backupRecord.update({
        where: { id: record.id },
        data: {
          verifiedAt: deps.clock(),
          verifyMethod: result.method,
          verifyError: null,
          ...(result.tables === undefined ? {} : { dumpTableCount: result.tables }),
          ...(newlyShort
            ? { suspicious: true, suspiciousReason: appendReason(record.suspiciousReason, coverage.reason) }
            : {}),
        },
      });
      await resolveUnverifiedUpTo(deps.db, verified, deps.clock());
      const detail = result.detail + describeCoverage(record, result.tables, coverage);
      log.info({ method: result.method, ms, dumpTables: result.tables }, `format check passed: ${detail}`);
      if (newlyShort) {
        log.warn(
          { dumpTables: result.tables, liveTables: record.liveTableCount },
          `backup is suspicious: ${coverage.reason}`,
        );
        await raiseSuspicious(deps, verified, coverage.reason).catch((error: unknown) =>
          log.error({ err: error }, 'could not record the alert for a suspicious backup'),
        );
        // The manifest says it too, so that a reindex from the volume keeps the flag (and retention the backups before).
        if (location?.ok && verified.suspiciousReason)
          await flagManifestSuspicious(location.path, verified.suspiciousReason).catch((error: unknown) =>
            log.error({ err: error }, 'could not mark the backup suspicious in its manifest'),
          );
      }
      return { record: verified, outcome: 'verified', detail };
    }
    const verifyError = keepStart(redactSecrets(result.error), MAX_ERROR_CHARS);
    const alert = await unverifiedAlert(deps, record, result.method, verifyError);
    // The finding and its alert together or neither: recorded alone, a failed check whose alert was lost to a stopped
    // process would never page (a checked backup is not checked again); neither written, the backup stays unchecked
    // and the catch-up pass (unchecked-backups.ts) checks it again.
    const { result: failed } = await changeWithAlert(
      deps.db,
      deps.notifier,
      deps.clock(),
      (tx) =>
        tx.backupRecord.update({
          where: { id: record.id },
          data: { verifiedAt: null, verifyMethod: result.method, verifyError },
        }),
      () => alert,
    );
    log.error({ method: result.method, ms }, `format check failed: ${verifyError}`);
    return { record: failed, outcome: 'failed', detail: verifyError };
  } catch (error) {
    log.error({ err: error }, 'could not record the format check');
    return { record, outcome: result.ok ? 'verified' : 'failed', detail: result.ok ? result.detail : result.error };
  }
}

/** The coverage of a dump whose tables were counted, against the live count taken before its export. */
function judgeCoverage(
  record: BackupRecord,
  dumpTables: number | undefined,
  settings: CoverageSettings | undefined,
): CoverageAssessment {
  if (dumpTables === undefined || record.liveTableCount === null) return { short: false };
  return assessTableCoverage(dumpTables, record.liveTableCount, settings);
}

/** What the check's detail adds about the coverage, for the log and the CLI. */
function describeCoverage(record: BackupRecord, dumpTables: number | undefined, coverage: CoverageAssessment): string {
  if (dumpTables === undefined) return '';
  if (record.liveTableCount === null) return '; table coverage unknown (the live tables were not counted)';
  if (coverage.short) return `; suspicious: ${coverage.reason}`;
  return `; the database had ${describeTables(record.liveTableCount)} when the export began`;
}

/** A second reason joins the first (a backup both far smaller and short of tables); the same one is not repeated. */
function appendReason(existing: string | null, reason: string): string {
  if (!existing) return reason;
  return existing.includes(reason) ? existing : `${existing}; ${reason}`;
}

async function raiseSuspicious(deps: FormatCheckDependencies, record: BackupRecord, reason: string): Promise<void> {
  const alert = await backupAlert(
    deps,
    record,
    { severity: 'WARNING', kind: BACKUP_SUSPICIOUS_ALERT },
    (backup) =>
      `${backup} succeeded but is suspicious: ${reason}. Check that the data is all there; retention keeps the ` +
      'earlier backups.',
  );
  await raiseAndNotify(deps.db, deps.notifier, alert, deps.clock());
}

/** The alert of a failed check, read before the finding is written (so this backup, passed before, is not named). */
async function unverifiedAlert(
  deps: FormatCheckDependencies,
  record: BackupRecord,
  method: string,
  verifyError: string,
): Promise<AlertWithName> {
  const lastVerified = await deps.db.backupRecord.findFirst({
    where: {
      deploymentId: record.deploymentId,
      id: { not: record.id },
      status: 'SUCCEEDED',
      verifiedAt: { not: null },
    },
    orderBy: { startedAt: 'desc' },
    select: { startedAt: true },
  });
  return backupAlert(
    deps,
    record,
    { severity: 'CRITICAL', kind: BACKUP_UNVERIFIED_ALERT },
    (backup) =>
      `${backup} failed its format check (${method}): ${verifyError}. It is probably not restorable. ` +
      `Newest backup that passed the check: ${lastVerified?.startedAt.toISOString() ?? 'none'}.`,
  );
}

/**
 * An alert about this backup, its message written by `describe` from how a person names the backup
 * ("Backup of {workspace}/{deployment} from {start}"), the deployment's name read for it.
 */
async function backupAlert(
  deps: FormatCheckDependencies,
  record: BackupRecord,
  alert: { severity: 'WARNING' | 'CRITICAL'; kind: string },
  describe: (backup: string) => string,
): Promise<AlertWithName> {
  const deployment = await deps.db.deployment.findUniqueOrThrow({
    where: { id: record.deploymentId },
    select: { name: true, workspace: { select: { slug: true } } },
  });
  return {
    workspaceId: record.workspaceId,
    deploymentId: record.deploymentId,
    deploymentName: deployment.name,
    backupRecordId: record.id,
    ...alert,
    message: describe(
      `Backup of ${deployment.workspace.slug}/${deployment.name} from ${record.startedAt.toISOString()}`,
    ),
  };
}

/** Resolves the deployment's open `backup_unverified` alert when it is about this backup or an older one. */
async function resolveUnverifiedUpTo(db: PrismaClient, record: BackupRecord, now: Date): Promise<void> {
  await db.alert.updateMany({
    where: {
      deploymentId: record.deploymentId,
      kind: BACKUP_UNVERIFIED_ALERT,
      resolvedAt: null,
      OR: [{ backupRecordId: null }, { backupRecord: { startedAt: { lte: record.startedAt } } }],
    },
    data: { resolvedAt: now },
  });
}
