/**
 * Which age recipients a deployment's backups are encrypted to: the deployment's own list, else its workspace's,
 * else none (not encrypted). A list that is set but not valid (empty, a typo, a key of another kind) is an error,
 * never "not encrypted": the backup fails closed before a single byte is exported.
 */
import { type AgeRecipient, AgeKeyError, parseRecipientList } from '../encryption/index.ts';
import { TypedFailure } from '../shared/index.ts';

/** Where the recipients were configured. */
export type RecipientSource = 'deployment' | 'workspace';

/** Encryption is configured but cannot be used; no backup starts. */
export class EncryptionMisconfiguredError extends TypedFailure {
  override readonly name = 'EncryptionMisconfiguredError';
  readonly kind = 'EncryptionMisconfigured' as const;
  constructor(
    readonly source: RecipientSource,
    cause: AgeKeyError,
  ) {
    super(
      `encryption is configured on the ${source} (backupAgeRecipients) but cannot be used: ${cause.message}; ` +
        'no backup was made (a backup is never written unencrypted while encryption is configured)',
      { cause },
    );
  }
}

/**
 * The recipients for a backup of `deployment` (empty: not encrypted). Throws `EncryptionMisconfiguredError` for a
 * list that is set but invalid.
 */
export function resolveBackupRecipients(
  deployment: { backupAgeRecipients: string | null },
  workspace: { backupAgeRecipients: string | null },
): AgeRecipient[] {
  const source: RecipientSource | null =
    deployment.backupAgeRecipients !== null
      ? 'deployment'
      : workspace.backupAgeRecipients !== null
        ? 'workspace'
        : null;
  if (source === null) return [];
  const text = (source === 'deployment' ? deployment.backupAgeRecipients : workspace.backupAgeRecipients) ?? '';
  try {
    return parseRecipientList(text);
  } catch (error) {
    if (error instanceof AgeKeyError) throw new EncryptionMisconfiguredError(source, error);
    throw error;
  }
}
