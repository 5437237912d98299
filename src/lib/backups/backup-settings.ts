/**
 * A deployment's backup settings that an operator changes from the CLI: how the store compresses, whom the backups
 * are encrypted to (the deployment's own age recipients, or its workspace's), and the dead-man URL. Every change is
 * validated before anything is written and all of them are written in one transaction, so a typo in one flag loses
 * nothing and changes nothing: an invalid recipient list would otherwise be found only when the next backup fails
 * closed.
 *
 * The dead-man URL carries the check's secret (healthchecks.io puts it in the path): it is never shown back, only
 * its origin.
 */
import { z } from 'zod';
import type { BackupCompression, PrismaClient } from '../../generated/prisma/client.ts';
import { AgeKeyError, parseRecipientList } from '../encryption/index.ts';
import { resolveBackupRecipients, EncryptionMisconfiguredError } from './backup-encryption.ts';

/** What may change; absent fields stay as they are. `null` clears (recipients: inherit / none; URL: no pings). */
export const backupSettingsChangeSchema = z.object({
  compression: z.enum(['gzip', 'zstd', 'none']).optional(),
  /** The deployment's own recipients; null: use the workspace's. */
  ageRecipients: z.string().nullable().optional(),
  /** The workspace's recipients, for every deployment of it that names none of its own; null: not encrypted. */
  workspaceAgeRecipients: z.string().nullable().optional(),
  deadManUrl: z.string().nullable().optional(),
});
export type BackupSettingsChange = z.infer<typeof backupSettingsChangeSchema>;

/** A change that cannot be applied; its message names the setting and why, never a secret. */
export class InvalidBackupSettingError extends Error {
  override readonly name = 'InvalidBackupSettingError';
  constructor(
    readonly setting: string,
    reason: string,
  ) {
    super(`${setting}: ${reason}`);
  }
}

/** The settings as a person reads them; recipients as fingerprints, the URL as its origin only. */
export interface BackupSettingsView {
  deploymentName: string;
  workspaceSlug: string;
  compression: BackupCompression;
  encryption:
    | { state: 'off' }
    | { state: 'on'; source: 'deployment' | 'workspace'; fingerprints: string[] }
    | { state: 'invalid'; error: string };
  deadMan: { state: 'off' } | { state: 'on'; origin: string };
}

const deadManUrlSchema = z
  .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })
  .refine((url) => !new URL(url).username && !new URL(url).password, {
    error: 'must not carry a user name or password (put the check’s key in the path, as healthchecks.io does)',
  })
  .refine((url) => !new URL(url).hash, { error: 'must not have a #fragment' });

function checkRecipients(setting: string, text: string): void {
  try {
    parseRecipientList(text);
  } catch (error) {
    if (error instanceof AgeKeyError) throw new InvalidBackupSettingError(setting, error.message);
    throw error;
  }
}

/** Throws `InvalidBackupSettingError` for the first value that cannot be used. Pure. */
export function validateBackupSettingsChange(change: BackupSettingsChange): void {
  if (typeof change.ageRecipients === 'string') checkRecipients('age recipients', change.ageRecipients);
  if (typeof change.workspaceAgeRecipients === 'string')
    checkRecipients('workspace age recipients', change.workspaceAgeRecipients);
  if (typeof change.deadManUrl === 'string') {
    const parsed = deadManUrlSchema.safeParse(change.deadManUrl);
    // The value is a secret: the message says what is wrong, never what was given.
    if (!parsed.success) throw new InvalidBackupSettingError('dead-man URL', parsed.error.issues[0]!.message);
  }
}

/** The deployment's settings as they are now; null when there is no such deployment. */
export async function readBackupSettings(db: PrismaClient, deploymentId: string): Promise<BackupSettingsView | null> {
  const deployment = await db.deployment.findUnique({
    where: { id: deploymentId },
    select: {
      name: true,
      backupCompression: true,
      backupAgeRecipients: true,
      deadManUrl: true,
      workspace: { select: { slug: true, backupAgeRecipients: true } },
    },
  });
  if (!deployment) return null;
  return {
    deploymentName: deployment.name,
    workspaceSlug: deployment.workspace.slug,
    compression: deployment.backupCompression,
    encryption: describeEncryption(deployment, deployment.workspace),
    deadMan: deployment.deadManUrl ? { state: 'on', origin: new URL(deployment.deadManUrl).origin } : { state: 'off' },
  };
}

function describeEncryption(
  deployment: { backupAgeRecipients: string | null },
  workspace: { backupAgeRecipients: string | null },
): BackupSettingsView['encryption'] {
  try {
    const recipients = resolveBackupRecipients(deployment, workspace);
    if (recipients.length === 0) return { state: 'off' };
    return {
      state: 'on',
      source: deployment.backupAgeRecipients !== null ? 'deployment' : 'workspace',
      fingerprints: recipients.map((recipient) => recipient.fingerprint),
    };
  } catch (error) {
    if (error instanceof EncryptionMisconfiguredError) return { state: 'invalid', error: error.message };
    throw error;
  }
}

/**
 * Applies `change` to the deployment (and, for `workspaceAgeRecipients`, its workspace) in one transaction after
 * validating all of it; returns the settings as they are afterwards, or null when there is no such deployment.
 * Changed recipients apply to backups that start afterwards; existing files keep theirs.
 */
export async function changeBackupSettings(
  db: PrismaClient,
  deploymentId: string,
  change: BackupSettingsChange,
): Promise<BackupSettingsView | null> {
  validateBackupSettingsChange(change);
  const found = await db.$transaction(async (tx) => {
    const deployment = await tx.deployment.findUnique({ where: { id: deploymentId }, select: { workspaceId: true } });
    if (!deployment) return false;
    await tx.deployment.update({
      where: { id: deploymentId },
      data: {
        ...(change.compression === undefined ? {} : { backupCompression: change.compression }),
        ...(change.ageRecipients === undefined ? {} : { backupAgeRecipients: change.ageRecipients }),
        ...(change.deadManUrl === undefined ? {} : { deadManUrl: change.deadManUrl }),
      },
    });
    if (change.workspaceAgeRecipients !== undefined)
      await tx.workspace.update({
        where: { id: deployment.workspaceId },
        data: { backupAgeRecipients: change.workspaceAgeRecipients },
      });
    return true;
  });
  return found ? readBackupSettings(db, deploymentId) : null;
}
