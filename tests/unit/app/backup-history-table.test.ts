import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { BackupHistoryTable } from '../../../src/app/_components/backup-history-table.tsx';
import type { BackupHistoryItem } from '../../../src/lib/web/backup-history.ts';

// The history rows as the server renders them: what a person reads about how each backup is stored.

const NOW = new Date('2026-12-03T12:00:00Z');

function item(fields: Partial<BackupHistoryItem>): BackupHistoryItem {
  return {
    id: 'ckbackup000000000000000001',
    deploymentId: 'ckdeploy000000000000000001',
    status: 'SUCCEEDED',
    trigger: 'SCHEDULE',
    startedAt: '2026-12-03T03:00:00.000Z',
    finishedAt: '2026-12-03T03:00:05.000Z',
    durationMs: 5_000,
    sizeBytes: '1048576',
    sha256: 'a'.repeat(64),
    format: 'mysql-sql',
    extension: 'sql.zst',
    fileName: '20261203T030000.000Z.sql.zst',
    errorKind: null,
    error: null,
    verifiedAt: null,
    verifyMethod: null,
    verifyError: null,
    pinned: false,
    suspicious: false,
    suspiciousReason: null,
    liveTableCount: null,
    dumpTableCount: null,
    progressBytes: '4194304',
    progressAt: null,
    jobId: null,
    encryptedTo: [],
    uploads: [],
    ...fields,
  };
}

const render = (items: BackupHistoryItem[]) =>
  renderToStaticMarkup(createElement(BackupHistoryTable, { items, offsiteEnabled: false, now: NOW }));

describe('BackupHistoryTable', () => {
  it('marks an encrypted backup with its recipients and shows the stored extension', () => {
    const html = render([
      item({
        id: 'enc',
        extension: 'sql.zst.age',
        encryptedTo: ['x25519:0123456789abcdef', 'x25519:fedcba9876543210'],
      }),
      item({ id: 'plain', extension: 'sql.gz' }),
    ]);
    const [encrypted, plain] = html.split('data-backup-id="plain"');
    expect(encrypted).toContain('data-encrypted="x25519:0123456789abcdef x25519:fedcba9876543210"');
    expect(encrypted).toContain('🔒 encrypted');
    expect(encrypted).toContain('.sql.zst.age');
    expect(plain).not.toContain('data-encrypted');
    expect(plain).toContain('.sql.gz');
  });

  it('shows a suspicious backup with its reason, and no extension on a failed attempt', () => {
    const html = render([
      item({ id: 'small', suspicious: true, suspiciousReason: '1.0 MiB is 10% of the median' }),
      item({ id: 'failed', status: 'FAILED', extension: 'dump', errorKind: 'ExecFailed', error: 'pg_dump: error' }),
    ]);
    expect(html).toContain('data-suspicious="true"');
    expect(html).toContain('title="1.0 MiB is 10% of the median"');
    const failed = html.split('data-backup-id="failed"')[1]!;
    expect(failed).not.toContain('data-extension');
    expect(failed).toContain('ExecFailed');
  });

  it("says a verified backup's table counts in the title of its mark, and nothing when they were not counted", () => {
    const verified = { verifiedAt: '2026-12-03T03:00:06.000Z', verifyMethod: 'mysql-trailer' };
    const html = render([
      item({ id: 'short', ...verified, liveTableCount: 6, dumpTableCount: 5 }),
      item({ id: 'unknown', ...verified, liveTableCount: null, dumpTableCount: 6 }),
      item({ id: 'redis', ...verified, format: 'redis-rdb' }),
    ]);
    const [short, unknown, redis] = html.split('data-backup-id=').slice(1);
    expect(short).toMatch(/data-verify="verified" title="mysql-trailer, [^"]*, 5 of 6 tables"/);
    expect(unknown).toMatch(/title="mysql-trailer, [^"]*, 6 tables \(the live ones not counted\)"/);
    expect(redis).toContain('data-verify="verified"');
    expect(redis).not.toContain('tables');
  });
});
