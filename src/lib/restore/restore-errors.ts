/**
 * Why a restore was not started. A refusal happens before anything is sent to the database (no record changes
 * state, except that an expired proposal is marked CANCELLED); the code is stable, the message names the value.
 */
export const RESTORE_REFUSAL_CODES = [
  'NOT_FOUND',
  'DEPLOYMENT_NOT_RUNNING',
  'BACKUP_NOT_RESTORABLE',
  'NO_IMPORT',
  'SCRATCH_UNSUPPORTED',
  'TOKEN_INVALID',
  'TOKEN_EXPIRED',
  'NOT_PROPOSED',
  'NOT_APPROVED',
  'BUSY',
  'LIVE_UNREADABLE',
  'SAME_PRINCIPAL',
  'NO_IDENTITY',
] as const;

export type RestoreRefusalCode = (typeof RESTORE_REFUSAL_CODES)[number];

export class RestoreRefusedError extends Error {
  override readonly name = 'RestoreRefusedError';
  constructor(
    readonly code: RestoreRefusalCode,
    message: string,
  ) {
    super(`restore refused (${code}): ${message}`);
  }
}
