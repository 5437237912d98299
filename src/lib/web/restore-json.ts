import type { RestoreRecord } from '../../generated/prisma/client.ts';

/** A restore record as the API shows it: everything but the token's hash (BigInt as decimal text, times in ISO). */
export function toRestoreRecordJson(record: RestoreRecord): Record<string, unknown> {
  const { confirmTokenHash: _hash, ...visible } = record;
  return {
    ...visible,
    bytesRestored: record.bytesRestored?.toString() ?? null,
    awaitingApproval: record.status === 'PROPOSED' && record.confirmTokenHash === null,
  };
}
