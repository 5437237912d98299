import { parseArgs } from 'node:util';
import { z } from 'zod';
import { openServices, readEnvironment, runMain } from '../lib/runtime/index.ts';
import { assertBackupRootUsable, backupFileReferenceOf, verifyStoredBackup } from '../lib/storage/index.ts';
import {
  auditBackupFiles,
  BackupInterruptedError,
  type BackupSettingsChange,
  type BackupSettingsView,
  changeBackupSettings,
  InvalidBackupSettingError,
  readBackupSettings,
  executeBackup,
  recoverInterruptedBackups,
  reindexBackups,
  ReindexSourceError,
} from '../lib/backups/index.ts';
import {
  InvalidRetentionError,
  parseRetentionPolicy,
  printPrunePlan,
  pruneBackups,
  type RetentionOverrides,
  setBackupPinned,
} from '../lib/retention/index.ts';
import { recordFormatCheck } from '../lib/verification/index.ts';
import { formatBytes, formatProgress, recordIdSchema } from '../lib/shared/index.ts';
import {
  FetchedCopyMismatchError,
  fetchOffsiteCopy,
  FetchRefusedError,
  findOffsiteOrphans,
  OffsiteRequestError,
  requeueUploads,
  runUploadPass,
} from '../lib/offsite/index.ts';
import { parseArgument, UsageError } from './usage.ts';

const USAGE = `usage: npm run backup -- <command>
  run <deploymentId>                   back up now (trigger MANUAL), printing progress
  list <deploymentId> [--limit N]      newest backups first (default 10)
  prune <deploymentId> [--keep N] [--daily D] [--weekly W] [--monthly M] [--max-age-days A] [--dry-run] [--confirm]
                                       apply retention, printing the plan with reasons (default: the
                                       deployment's policy; flags override single rules for this run). The
                                       retention guard stops a prune of more than half of the successful
                                       backups, or while the newest failed or is suspicious: --confirm goes ahead
  pin <backupId>                       retention never deletes this backup
  unpin <backupId>                     retention may delete it again
  verify <backupId>                    re-check a backup file's sha256 against its record and sidecar, then its
                                       format (pg_restore, dump trailer, RDB checksum, gzip) and record the result
  recover                              mark interrupted backups FAILED and remove their temporary files
  audit <deploymentId>                 report files without records and records without files (and, with
                                       off-site copies on, objects without records and uploads without objects)
  upload [--backup <backupId>]         upload successful backups to the off-site destinations now; with
                                       --backup, only that one, retrying it even after its upload gave up
  fetch <backupId> [--destination NAME] disaster recovery: download the backup's uploaded off-site copy back to
                                       its path when the local file is missing or damaged (size and sha256
                                       checked before it is put in place), then restore it as usual
  reindex [--from-offsite [--destination NAME]]
                                       the platform database was lost: rebuild the backup records (same ids,
                                       sizes, sha256) from the manifests on the volume, or in the bucket
  settings <deploymentId> [--compression gzip|zstd|none] [--age-recipients LIST|inherit]
           [--workspace-age-recipients LIST|none] [--dead-man-url URL|none]
                                       show the deployment's backup settings, or change them (all checked
                                       before any is written): compression, age recipients (LIST: "age1…" keys
                                       separated by spaces or commas; inherit: the workspace's), the
                                       workspace's recipients, the dead-man URL (shown back as its origin only)
Exit codes: 0 done, 1 failed, 2 bad usage or configuration, 3 skipped, 4 stopped by the retention guard.`;

const idSchema = recordIdSchema('must be a record id (lowercase letters and digits)');
const compressionSchema = z.enum(['gzip', 'zstd', 'none'], { error: 'must be gzip, zstd or none' });
const limitSchema = z.coerce.number().int().min(1).max(1_000, { error: 'must be from 1 to 1000' });
/** A retention flag's text as a number; the range is checked by the retention policy schema. */
const wholeNumberSchema = z
  .string()
  .regex(/^-?\d+$/, { error: 'must be a whole number' })
  .transform(Number);
const RETENTION_FLAGS = {
  keep: 'keepLast',
  daily: 'daily',
  weekly: 'weekly',
  monthly: 'monthly',
  'max-age-days': 'maxAgeDays',
} as const;
type RetentionFlag = keyof typeof RETENTION_FLAGS;
const FLAG_OF = Object.fromEntries(Object.entries(RETENTION_FLAGS).map(([flag, field]) => [field, `--${flag}`]));

/** `npm run backup -- …`: the operator's commands. Output for people on stdout; logs (JSON) on stderr. */
runMain(async () => {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      keep: { type: 'string' },
      daily: { type: 'string' },
      weekly: { type: 'string' },
      monthly: { type: 'string' },
      'max-age-days': { type: 'string' },
      limit: { type: 'string' },
      'dry-run': { type: 'boolean' },
      confirm: { type: 'boolean' },
      backup: { type: 'string' },
      destination: { type: 'string' },
      'from-offsite': { type: 'boolean' },
      compression: { type: 'string' },
      'age-recipients': { type: 'string' },
      'workspace-age-recipients': { type: 'string' },
      'dead-man-url': { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  const [command, argument] = positionals;
  if (values.help || !command) {
    process.stdout.write(`${USAGE}\n`);
    process.exitCode = command || values.help ? 0 : 2;
    return;
  }
  try {
    process.exitCode = await runCommand(command, argument, values);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`backup: ${error.message}\n${USAGE}\n`);
    process.exitCode = 2;
  }
});

async function runCommand(
  command: string,
  argument: string | undefined,
  values: Partial<Record<RetentionFlag, string>> & {
    limit?: string;
    'dry-run'?: boolean;
    confirm?: boolean;
    'from-offsite'?: boolean;
    backup?: string;
    destination?: string;
  } & SettingsFlags,
): Promise<number> {
  const commands = [
    'run',
    'list',
    'prune',
    'pin',
    'unpin',
    'verify',
    'recover',
    'audit',
    'upload',
    'fetch',
    'reindex',
    'settings',
  ];
  if (!commands.includes(command)) throw new UsageError(`unknown command "${command}"`);
  const uploadBackupId = values.backup === undefined ? undefined : parseArgument(idSchema, values.backup, '--backup');
  const id =
    command === 'recover' || command === 'upload' || command === 'reindex'
      ? ''
      : parseArgument(
          idSchema,
          argument,
          ['verify', 'pin', 'unpin', 'fetch'].includes(command) ? 'backupId' : 'deploymentId',
        );
  const overrides: RetentionOverrides = {};
  for (const [flag, field] of Object.entries(RETENTION_FLAGS) as Array<[RetentionFlag, keyof RetentionOverrides]>) {
    if (values[flag] !== undefined) overrides[field] = parseArgument(wholeNumberSchema, values[flag], `--${flag}`);
  }
  try {
    parseRetentionPolicy(overrides, FLAG_OF);
  } catch (error) {
    if (error instanceof InvalidRetentionError) throw new UsageError(error.details);
    throw error;
  }
  const limit = values.limit === undefined ? 10 : parseArgument(limitSchema, values.limit, '--limit');
  const settingsChange = settingsChangeOf(values);
  const services = await openServices(readEnvironment(), 'backup-cli', { logToStderr: true });
  const { runtime, backup: deps } = services;
  const out = (line: string) => process.stdout.write(`${line}\n`);
  try {
    switch (command) {
      case 'run': {
        await assertBackupRootUsable(runtime.config.BACKUP_ROOT);
        const interrupt = new AbortController();
        const onSignal = () =>
          interrupt.abort(new BackupInterruptedError('Interrupted', 'interrupted: the operator stopped the backup'));
        process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
        const started = Date.now();
        let lastReport = 0;
        const outcome = await executeBackup(deps, id, {
          trigger: 'MANUAL',
          signal: interrupt.signal,
          // At once, before the first byte: the operator sees what runs (and its id) while the export starts.
          onStarted: (record) => process.stderr.write(`started backup ${record.id}\n`),
          onProgress: (bytes) => {
            if (Date.now() - lastReport < 1_000) return;
            lastReport = Date.now();
            process.stderr.write(`${formatProgress(bytes, Date.now() - started)}\n`);
          },
        });
        if (outcome.status === 'SKIPPED') {
          out(
            `skipped (${outcome.code}): ${outcome.reason}${outcome.runningRecord ? ` — running backup ${outcome.runningRecord.id}` : ''}`,
          );
          return 3;
        }
        const r = outcome.record;
        if (outcome.status === 'SUCCEEDED') {
          out(
            `SUCCEEDED ${r.id}\n  file    ${r.path}\n  size    ${formatBytes(r.sizeBytes)}\n  sha256  ${r.sha256}\n  took    ${r.durationMs} ms`,
          );
          return 0;
        }
        out(`FAILED ${r.id} (${r.errorKind}): ${r.error}${r.stderrTail ? `\n  stderr: ${r.stderrTail}` : ''}`);
        return 1;
      }
      case 'settings': {
        let view: BackupSettingsView | null;
        try {
          view =
            Object.keys(settingsChange).length === 0
              ? await readBackupSettings(deps.db, id)
              : await changeBackupSettings(deps.db, id, settingsChange);
        } catch (error) {
          if (error instanceof InvalidBackupSettingError) throw new UsageError(`${error.message}; nothing was changed`);
          throw error;
        }
        if (!view) {
          out(`no deployment ${id}`);
          return 1;
        }
        out(formatSettings(view));
        return 0;
      }
      case 'list': {
        const records = await deps.db.backupRecord.findMany({
          where: { deploymentId: id },
          orderBy: { startedAt: 'desc' },
          take: limit,
        });
        if (records.length === 0) out('no backups recorded for this deployment');
        for (const r of records) {
          out(
            `${r.startedAt.toISOString()}  ${r.status.padEnd(9)}  ${r.trigger.padEnd(8)}  ${formatBytes(r.sizeBytes).padStart(10)}  ${r.id}  ${r.status === 'FAILED' ? `${r.errorKind}: ${r.error}` : (r.path ?? '')}`,
          );
        }
        return 0;
      }
      case 'prune': {
        let report;
        try {
          report = await pruneBackups(deps, id, {
            policy: overrides,
            dryRun: values['dry-run'] ?? false,
            confirm: values.confirm ?? false,
          });
        } catch (error) {
          // A policy column of the deployment that is out of range: a configuration error.
          if (error instanceof InvalidRetentionError) throw new UsageError(error.message);
          throw error;
        }
        printPrunePlan(report, out);
        // Stopped by the retention guard: nothing was deleted, and a script must see that.
        if (report.guard && !report.guard.confirmed && !values['dry-run']) return 4;
        return report.problems.length > 0 ? 1 : 0;
      }
      case 'pin':
      case 'unpin': {
        const outcome = await setBackupPinned(deps.db, { backupId: id }, command === 'pin');
        if (!outcome.ok) {
          out(outcome.message);
          return 1;
        }
        out(
          `${outcome.pinned ? 'pinned' : 'unpinned'} ${outcome.backupId}${outcome.changed ? '' : ` (it was already ${outcome.pinned ? 'pinned' : 'unpinned'})`}`,
        );
        return 0;
      }
      case 'verify': {
        const record = await deps.db.backupRecord.findUnique({
          where: { id },
          include: { deployment: { select: { name: true } } },
        });
        if (!record) throw new UsageError(`backup "${id}" does not exist`);
        if (record.status !== 'SUCCEEDED' || !record.path || !record.sha256) {
          out(`backup ${id} is ${record.status}: there is no file to verify`);
          return 1;
        }
        const result = await verifyStoredBackup(deps.store.root, backupFileReferenceOf(record), record.sha256);
        out(
          result.ok
            ? `OK ${record.path} (${formatBytes(result.sizeBytes)}, sha256 ${record.sha256})`
            : `BAD ${record.path}: ${result.reason}: ${result.detail}`,
        );
        if (!result.ok) return 1;
        const format = await recordFormatCheck(deps, record);
        const method = format.record.verifyMethod ?? record.format ?? 'format';
        out(
          format.outcome === 'verified'
            ? `OK format (${method}): ${format.detail}`
            : format.outcome === 'failed'
              ? `BAD format (${method}): ${format.detail}`
              : `format not checked: ${format.detail}`,
        );
        return format.outcome === 'failed' ? 1 : 0;
      }
      case 'recover': {
        const report = await recoverInterruptedBackups(deps);
        out(
          `${report.interrupted.length} interrupted backup(s) marked FAILED, ${report.removedTempFiles.length} temporary file(s) removed`,
        );
        for (const problem of report.tempFileProblems) out(`  could not remove ${problem.path}: ${problem.reason}`);
        return report.tempFileProblems.length > 0 ? 1 : 0;
      }
      case 'upload': {
        if (!deps.destinations?.length) {
          out('off-site copies are off: set S3_BUCKET (see .env.example)');
          return 2;
        }
        if (uploadBackupId) {
          const record = await deps.db.backupRecord.findUnique({
            where: { id: uploadBackupId },
            select: { status: true },
          });
          if (!record) throw new UsageError(`backup "${uploadBackupId}" does not exist`);
          await requeueUploads(deps.db, uploadBackupId, deps.clock());
        }
        const interrupt = new AbortController();
        process.once('SIGINT', () => interrupt.abort()).once('SIGTERM', () => interrupt.abort());
        const summary = await runUploadPass(deps, deps.clock(), {
          signal: interrupt.signal,
          ...(uploadBackupId ? { backupId: uploadBackupId } : {}),
        });
        out(
          `${summary.uploaded} uploaded and verified, ${summary.retrying} failed (to retry), ${summary.failed} failed for good, ${summary.queued} newly queued`,
        );
        if (uploadBackupId) {
          const uploads = await deps.db.backupUpload.findMany({
            where: { backupRecordId: uploadBackupId },
            orderBy: { destination: 'asc' },
          });
          if (uploads.length === 0)
            out(
              `backup ${uploadBackupId} has no off-site copy to make (only successful backups with a file are uploaded)`,
            );
          for (const u of uploads)
            out(
              `  ${u.destination}  ${u.status.padEnd(8)}  ${u.objectKey}${u.lastError ? `  (${u.attempts} attempt(s); last error: ${u.lastError})` : ''}`,
            );
        }
        return summary.retrying + summary.failed > 0 ? 1 : 0;
      }
      case 'reindex': {
        try {
          const report = await reindexBackups(
            deps,
            values['from-offsite'] ? { fromOffsite: values.destination ?? true } : {},
          );
          for (const restored of report.restored) out(`restored ${restored.id}  ${restored.path}`);
          for (const problem of report.problems) out(`SKIPPED ${problem.manifest}: ${problem.reason}`);
          out(
            `reindex from ${report.source}: ${report.restored.length} record(s) restored, ${report.alreadyKnown.length} already known, ` +
              `${report.createdWorkspaces.length} workspace(s) and ${report.createdDeployments.length} deployment(s) created` +
              (report.createdDeployments.length > 0
                ? ' (deployments created PENDING with scheduled backups off: check and re-enable them)'
                : ''),
          );
          return report.problems.length > 0 ? 1 : 0;
        } catch (error) {
          if (error instanceof ReindexSourceError) throw new UsageError(error.message);
          throw error;
        }
      }
      case 'fetch': {
        await assertBackupRootUsable(runtime.config.BACKUP_ROOT);
        const interrupt = new AbortController();
        process.once('SIGINT', () => interrupt.abort()).once('SIGTERM', () => interrupt.abort());
        const started = Date.now();
        let lastReport = started;
        try {
          const fetched = await fetchOffsiteCopy(deps, id, {
            signal: interrupt.signal,
            ...(values.destination ? { destination: values.destination } : {}),
            onProgress: (bytes) => {
              if (Date.now() - lastReport < 1_000) return;
              lastReport = Date.now();
              process.stderr.write(`${formatProgress(bytes, Date.now() - started)}\n`);
            },
          });
          out(`FETCHED ${fetched.backupId} from ${fetched.destination} (${fetched.objectKey})`);
          out(
            `  file    ${fetched.path} (was ${fetched.replaced === 'missing' ? 'missing' : 'damaged, now replaced'})`,
          );
          out(
            `  size    ${formatBytes(fetched.sizeBytes)}\n  sha256  ${fetched.sha256} (verified)\n  took    ${fetched.durationMs} ms`,
          );
          out(
            `restore it with npm run restore -- scratch ${fetched.backupId}, or plan ${fetched.backupId} to restore over the live data`,
          );
          return 0;
        } catch (error) {
          if (error instanceof FetchRefusedError) {
            if (error.code === 'NOT_FOUND') throw new UsageError(`backup "${id}" does not exist`);
            out(error.message);
            return error.code === 'LOCAL_FILE_INTACT' ? 3 : error.code === 'DESTINATION_NOT_CONFIGURED' ? 2 : 1;
          }
          if (error instanceof FetchedCopyMismatchError || error instanceof OffsiteRequestError) {
            out(`FAILED ${error.message}`);
            return 1;
          }
          if (interrupt.signal.aborted) {
            out('interrupted: nothing was written');
            return 1;
          }
          throw error;
        }
      }
      default: {
        const audit = await auditBackupFiles(deps, id);
        for (const file of audit.filesWithoutRecord)
          out(
            `file without record: ${file.path}${file.manifest ? `\n  its manifest: ${file.manifest}; npm run backup -- reindex restores its record` : ' (no manifest)'}`,
          );
        for (const record of audit.recordsWithoutFile)
          out(`record without file: ${record.id} ${record.path ?? ''} (${record.problem})`);
        if (audit.filesWithoutRecord.length + audit.recordsWithoutFile.length === 0) out('files and records agree');
        let offsiteProblems = 0;
        for (const report of await findOffsiteOrphans(deps, { deploymentId: id })) {
          for (const object of report.objectsWithoutRecord)
            out(
              `${report.destination} object without record: ${object.key} (${formatBytes(object.sizeBytes)})${object.manifest ? `\n  its manifest: ${object.manifest}; npm run backup -- reindex --from-offsite restores its record` : ' (no manifest)'}`,
            );
          for (const upload of report.uploadsWithoutObject)
            out(`${report.destination} upload without object: backup ${upload.backupRecordId} ${upload.objectKey}`);
          const problems = report.objectsWithoutRecord.length + report.uploadsWithoutObject.length;
          if (problems === 0) out(`${report.destination} objects under ${report.prefix} and upload records agree`);
          offsiteProblems += problems;
        }
        return audit.filesWithoutRecord.length + audit.recordsWithoutFile.length + offsiteProblems > 0 ? 1 : 0;
      }
    }
  } finally {
    // Alerts raised by this command (a failed backup, an unverified one) reach the webhook before it exits.
    await services.close();
  }
}

interface SettingsFlags {
  compression?: string;
  'age-recipients'?: string;
  'workspace-age-recipients'?: string;
  'dead-man-url'?: string;
}

/** The change the `settings` flags ask for (words that clear a setting read as null); checked further by the library. */
function settingsChangeOf(values: SettingsFlags): BackupSettingsChange {
  const change: BackupSettingsChange = {};
  if (values.compression !== undefined)
    change.compression = parseArgument(compressionSchema, values.compression, '--compression');
  if (values['age-recipients'] !== undefined)
    change.ageRecipients = values['age-recipients'] === 'inherit' ? null : values['age-recipients'];
  if (values['workspace-age-recipients'] !== undefined)
    change.workspaceAgeRecipients =
      values['workspace-age-recipients'] === 'none' ? null : values['workspace-age-recipients'];
  if (values['dead-man-url'] !== undefined)
    change.deadManUrl = values['dead-man-url'] === 'none' ? null : values['dead-man-url'];
  return change;
}

function formatSettings(view: BackupSettingsView): string {
  const encryption =
    view.encryption.state === 'off'
      ? 'off (backups are stored unencrypted)'
      : view.encryption.state === 'invalid'
        ? `INVALID, no backup will start: ${view.encryption.error}`
        : `age, the ${view.encryption.source}'s recipients: ${view.encryption.fingerprints.join(', ')}`;
  const deadMan = view.deadMan.state === 'off' ? 'off' : `${view.deadMan.origin}/… (the rest is the check's secret)`;
  return [
    `${view.workspaceSlug}/${view.deploymentName}`,
    `  compression  ${view.compression}`,
    `  encryption   ${encryption}`,
    `  dead-man     ${deadMan}`,
  ].join('\n');
}
