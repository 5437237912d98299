import { type BackupFailureKind, isBackupFailureKind, keepEnd, redactSecrets, TypedFailure } from '../shared/index.ts';

/** Error codes of the filesystem that mean "the backup volume could not take the file". */
const STORAGE_ERROR_CODES = new Set([
  'ENOSPC',
  'EDQUOT',
  'EACCES',
  'EPERM',
  'EROFS',
  'ENOTDIR',
  'EISDIR',
  'EIO',
  'EMFILE',
  'ENFILE',
  'EEXIST',
  'ENOENT',
]);
const MAX_ERROR_LENGTH = 1_000;
const MAX_STDERR_LENGTH = 4_000;

/** What a failed backup's record says: the typed kind, a short redacted message, the exit code and stderr tail. */
export interface FailureSummary {
  kind: BackupFailureKind;
  message: string;
  exitCode: number | null;
  stderrTail: string | null;
}

/**
 * Turns whatever a backup threw into the summary stored on its record. Typed failures keep their kind (a restore's kind here would be a bug: `Unexpected`); raw
 * filesystem errors are storage failures; anything else is `Unexpected` (and a bug to look at). Everything is
 * redacted once more with the known secret values and truncated, because it is stored and shown as is.
 */
export function summarizeFailure(error: unknown, secrets: readonly string[] = []): FailureSummary {
  const redact = (text: string, max: number) => keepEnd(redactSecrets(text, secrets), max);
  if (error instanceof TypedFailure) {
    const fields = error as TypedFailure & { exitCode?: unknown; stderrTail?: unknown };
    return {
      kind: isBackupFailureKind(error.kind) ? error.kind : 'Unexpected',
      message: redact(error.message, MAX_ERROR_LENGTH),
      exitCode: typeof fields.exitCode === 'number' ? fields.exitCode : null,
      stderrTail:
        typeof fields.stderrTail === 'string' && fields.stderrTail
          ? redact(fields.stderrTail, MAX_STDERR_LENGTH)
          : null,
    };
  }
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  if (typeof code === 'string' && STORAGE_ERROR_CODES.has(code)) {
    return {
      kind: 'StorageFailed',
      message: redact(`backup volume: ${message}`, MAX_ERROR_LENGTH),
      exitCode: null,
      stderrTail: null,
    };
  }
  return { kind: 'Unexpected', message: redact(message, MAX_ERROR_LENGTH), exitCode: null, stderrTail: null };
}

/** The failure raised when a backup is stopped from outside: worker shutdown, or its claim was lost. */
export class BackupInterruptedError extends TypedFailure {
  override name = 'BackupInterruptedError';
  readonly kind: BackupFailureKind;
  constructor(kind: 'Interrupted' | 'ClaimLost', message: string) {
    super(message);
    this.kind = kind;
  }
}
