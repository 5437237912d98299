import type { BackupHistoryItem } from './backup-history.ts';
import { formatInstant } from './display.ts';

/**
 * What the history's "Off-site" column says about a backup's copies, as plain data: one line per destination with
 * a tone, the words, and the detail for its tooltip (the reason of a failure). Pure, so the table and its tests agree.
 */
export interface OffsiteCopyLine {
  tone: 'ok' | 'pending' | 'bad' | 'muted';
  text: string;
  /** The longer story: when it was uploaded, or the last error and what to do. */
  detail: string;
}

/**
 * The lines for `item`. `offsiteEnabled` says whether any off-site destination is configured: a successful backup
 * without upload rows is then still to be queued, otherwise it is kept only on the local volume.
 */
export function describeOffsiteCopies(
  item: Pick<BackupHistoryItem, 'id' | 'status' | 'uploads'>,
  offsiteEnabled: boolean,
): OffsiteCopyLine[] {
  if (item.status !== 'SUCCEEDED') return [];
  if (item.uploads.length === 0) {
    return offsiteEnabled
      ? [{ tone: 'pending', text: 'not queued yet', detail: 'the next worker cycle queues its upload' }]
      : [
          {
            tone: 'muted',
            text: 'local only',
            detail: 'no off-site destination is configured (set S3_BUCKET to copy backups to S3-compatible storage)',
          },
        ];
  }
  return item.uploads.map((upload): OffsiteCopyLine => {
    const name = upload.destination;
    const attempts = `${upload.attempts} failed attempt${upload.attempts === 1 ? '' : 's'}`;
    if (upload.status === 'UPLOADED') {
      return {
        tone: 'ok',
        text: `✓ ${name}`,
        detail: `uploaded ${formatInstant(upload.uploadedAt, { seconds: true })}, sha256 checked`,
      };
    }
    if (upload.status === 'FAILED') {
      return {
        tone: 'bad',
        text: `✗ ${name} failed`,
        detail: `${upload.lastError ?? 'no reason recorded'} (gave up after ${attempts}; retry with npm run backup -- upload --backup ${item.id})`,
      };
    }
    if (upload.attempts === 0)
      return {
        tone: 'pending',
        text: `${name}: pending`,
        detail: 'waiting for the upload pass of the next worker cycle',
      };
    return {
      tone: 'pending',
      text: `${name}: pending (attempt ${upload.attempts + 1}, next at ${formatInstant(upload.nextAttemptAt)})`,
      detail: `${attempts}, the last: ${upload.lastError ?? 'no reason recorded'}`,
    };
  });
}
