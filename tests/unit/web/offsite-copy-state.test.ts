import { describe, expect, it } from 'vitest';
import type { BackupUploadJson } from '../../../src/lib/web/backup-history.ts';
import { describeOffsiteCopies } from '../../../src/lib/web/offsite-copy-state.ts';

// The history's "Off-site" column: a good local backup never looks uploaded unless its copy is, and a failed upload
// says why and how to retry.

const ID = 'ckbackup000000000000000001';

function upload(fields: Partial<BackupUploadJson>): BackupUploadJson {
  return {
    destination: 's3',
    status: 'PENDING',
    attempts: 0,
    lastError: null,
    uploadedAt: null,
    nextAttemptAt: '2026-11-22T03:05:00.000Z',
    ...fields,
  };
}

describe('describeOffsiteCopies', () => {
  it.each([
    [
      'UPLOADED',
      upload({ status: 'UPLOADED', uploadedAt: '2026-11-22T03:04:05.000Z', nextAttemptAt: null }),
      { tone: 'ok', text: '✓ s3', detail: 'uploaded 2026-11-22 03:04:05 UTC, sha256 checked' },
    ],
    [
      'PENDING, not tried yet',
      upload({}),
      { tone: 'pending', text: 's3: pending', detail: 'waiting for the upload pass of the next worker cycle' },
    ],
    [
      'PENDING after 2 failures',
      upload({ attempts: 2, lastError: 'connect ECONNREFUSED', nextAttemptAt: '2026-11-22T03:09:00.000Z' }),
      {
        tone: 'pending',
        text: 's3: pending (attempt 3, next at 2026-11-22 03:09 UTC)',
        detail: '2 failed attempts, the last: connect ECONNREFUSED',
      },
    ],
    [
      'FAILED',
      upload({ status: 'FAILED', attempts: 12, lastError: 'AccessDenied', nextAttemptAt: null }),
      {
        tone: 'bad',
        text: '✗ s3 failed',
        detail: `AccessDenied (gave up after 12 failed attempts; retry with npm run backup -- upload --backup ${ID})`,
      },
    ],
  ])('%s', (_label, copy, line) => {
    expect(describeOffsiteCopies({ id: ID, status: 'SUCCEEDED', uploads: [copy] }, true)).toEqual([line]);
  });

  it('one line per destination', () => {
    const lines = describeOffsiteCopies(
      {
        id: ID,
        status: 'SUCCEEDED',
        uploads: [
          upload({ destination: 'b2' }),
          upload({ status: 'UPLOADED', uploadedAt: '2026-11-22T03:04:05.000Z' }),
        ],
      },
      true,
    );
    expect(lines.map((line) => line.text)).toEqual(['b2: pending', '✓ s3']);
  });

  it('a backup without uploads is to be queued when a destination is configured, local only otherwise', () => {
    expect(describeOffsiteCopies({ id: ID, status: 'SUCCEEDED', uploads: [] }, true)).toEqual([
      { tone: 'pending', text: 'not queued yet', detail: 'the next worker cycle queues its upload' },
    ]);
    expect(describeOffsiteCopies({ id: ID, status: 'SUCCEEDED', uploads: [] }, false)).toMatchObject([
      { tone: 'muted', text: 'local only' },
    ]);
  });

  it.each(['RUNNING', 'FAILED'])('nothing for a %s backup', (status) => {
    expect(describeOffsiteCopies({ id: ID, status, uploads: [] }, true)).toEqual([]);
  });
});
