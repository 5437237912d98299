import { describe, expect, it } from 'vitest';
import { encodingOfExtension } from '../../../src/lib/storage/index.ts';
import {
  InvalidBackupPathError,
  MAX_FILES_PER_MILLISECOND,
  backupFileName,
  backupFilePath,
  backupTimestamp,
  deploymentFolder,
  formatSidecar,
  isBackupFileName,
  isTempFileName,
  parseSidecar,
  sidecarPathFor,
  storedExtension,
  tempPathFor,
  type BackupPathField,
} from '../../../src/lib/storage/backup-path.ts';

const ROOT = '/backups';
const WORKSPACE = 'clx0abc123';
const DEPLOYMENT = 'db-main';
const T0 = new Date('2026-11-22T03:15:00.123Z');
const SHA256 = 'a'.repeat(64);

describe('backupTimestamp', () => {
  it.each([
    ['2026-11-22T03:15:00.123Z', '20261122T031500.123Z'],
    ['2026-01-02T00:00:00.000Z', '20260102T000000.000Z'],
    ['0999-12-31T23:59:59.999Z', '09991231T235959.999Z'],
    ['9999-12-31T23:59:59.999Z', '99991231T235959.999Z'],
  ])('%s → %s', (iso, expected) => {
    expect(backupTimestamp(new Date(iso))).toBe(expected);
  });

  it('sorts lexicographically in chronological order', () => {
    const instants = [
      '2026-11-22T03:15:00.123Z',
      '2026-11-22T03:15:00.124Z',
      '2026-11-22T03:15:01.000Z',
      '2026-11-22T10:00:00.000Z',
      '2026-12-01T00:00:00.000Z',
      '2027-01-01T00:00:00.000Z',
      '2100-01-01T00:00:00.000Z',
    ].map((iso) => new Date(iso));
    const names = instants.map(backupTimestamp);
    expect([...names].sort()).toEqual(names);
    expect(new Set(names).size).toBe(names.length);
  });

  it.each([
    ['Invalid Date', new Date(Number.NaN)],
    ['year 10000', new Date('+010000-01-01T00:00:00Z')],
    ['year -1', new Date('-000001-01-01T00:00:00Z')],
  ])('rejects %s', (_label, date) => {
    expect(() => backupTimestamp(date)).toThrow(InvalidBackupPathError);
  });
});

describe('storedExtension', () => {
  it.each([
    ['sql', false, 'sql.gz'],
    ['rdb', false, 'rdb.gz'],
    ['dump', true, 'dump'],
    ['archive.gz', true, 'archive.gz'],
    ['tar', false, 'tar.gz'],
  ])('%s (compressed: %s) is stored as .%s', (extension, compressed, expected) => {
    expect(storedExtension(extension, compressed)).toBe(expected);
  });

  it.each([
    ['sql', false, 'zstd', false, 'sql.zst'],
    ['sql', false, 'none', false, 'sql'],
    ['sql', false, 'gzip', true, 'sql.gz.age'],
    ['rdb', false, 'zstd', true, 'rdb.zst.age'],
    ['dump', true, 'zstd', true, 'dump.age'],
    ['dump', true, 'gzip', false, 'dump'],
  ] as const)(
    '%s (compressed: %s) with %s, encrypted: %s, is .%s',
    (extension, compressed, compression, encrypted, expected) => {
      expect(storedExtension(extension, compressed, { compression, encrypted })).toBe(expected);
      // Reading the extension back gives what the store did (an export's own compression reads as none).
      expect(encodingOfExtension(expected)).toEqual({ compression: compressed ? 'none' : compression, encrypted });
    },
  );
});

describe('backupFileName and backupFilePath', () => {
  it('names the file {timestamp}.{extension} in {root}/{workspaceId}/{deploymentName}', () => {
    expect(backupFilePath(ROOT, WORKSPACE, DEPLOYMENT, T0, 'sql.gz')).toBe(
      '/backups/clx0abc123/db-main/20261122T031500.123Z.sql.gz',
    );
    expect(backupFilePath('/srv/backups/', WORKSPACE, DEPLOYMENT, T0, 'dump')).toBe(
      '/srv/backups/clx0abc123/db-main/20261122T031500.123Z.dump',
    );
  });

  it('numbers later files of the same millisecond so that they sort after the first', () => {
    const names = Array.from({ length: MAX_FILES_PER_MILLISECOND }, (_, index) =>
      backupFileName(T0, 'sql.gz', index + 1),
    );
    expect(names.slice(0, 3)).toEqual([
      '20261122T031500.123Z.sql.gz',
      '20261122T031500.123Z_2.sql.gz',
      '20261122T031500.123Z_3.sql.gz',
    ]);
    const oneLater = backupFileName(new Date(T0.getTime() + 1), 'sql.gz');
    expect([...names, oneLater].sort()).toEqual([...names, oneLater]);
  });

  it('places temporary files and sidecars next to the backup, temporary ones hidden', () => {
    const finalPath = '/backups/clx0abc123/db-main/20261122T031500.123Z.sql.gz';
    expect(tempPathFor(finalPath)).toBe('/backups/clx0abc123/db-main/.20261122T031500.123Z.sql.gz.partial');
    expect(sidecarPathFor(finalPath)).toBe(`${finalPath}.sha256`);
    expect(tempPathFor(sidecarPathFor(finalPath))).toBe(
      '/backups/clx0abc123/db-main/.20261122T031500.123Z.sql.gz.sha256.partial',
    );
  });

  it.each([
    ['20261122T031500.123Z.sql.gz', { backup: true, temp: false }],
    ['20261122T031500.123Z.sql.gz.sha256', { backup: false, temp: false }],
    ['.20261122T031500.123Z.sql.gz.partial', { backup: false, temp: true }],
    ['.20261122T031500.123Z.sql.gz.sha256.partial', { backup: false, temp: true }],
    ['notes.partial', { backup: true, temp: false }],
  ])('classifies %s', (fileName, expected) => {
    expect({ backup: isBackupFileName(fileName), temp: isTempFileName(fileName) }).toEqual(expected);
  });
});

describe('validation', () => {
  const LONG_LABEL = 'a'.repeat(64);
  const cases: Array<[string, BackupPathField, () => unknown]> = [
    ['relative root', 'root', () => deploymentFolder('backups', WORKSPACE, DEPLOYMENT)],
    ['empty root', 'root', () => deploymentFolder('', WORKSPACE, DEPLOYMENT)],
    ['empty workspaceId', 'workspaceId', () => deploymentFolder(ROOT, '', DEPLOYMENT)],
    ['.. workspaceId', 'workspaceId', () => deploymentFolder(ROOT, '..', DEPLOYMENT)],
    ['workspaceId with /', 'workspaceId', () => deploymentFolder(ROOT, 'ws/../etc', DEPLOYMENT)],
    ['absolute workspaceId', 'workspaceId', () => deploymentFolder(ROOT, '/etc', DEPLOYMENT)],
    ['uppercase workspaceId', 'workspaceId', () => deploymentFolder(ROOT, 'CLX0ABC', DEPLOYMENT)],
    ['too long workspaceId', 'workspaceId', () => deploymentFolder(ROOT, 'a'.repeat(65), DEPLOYMENT)],
    ['empty deploymentName', 'deploymentName', () => deploymentFolder(ROOT, WORKSPACE, '')],
    ['.. deploymentName', 'deploymentName', () => deploymentFolder(ROOT, WORKSPACE, '..')],
    ['deploymentName with /', 'deploymentName', () => deploymentFolder(ROOT, WORKSPACE, 'db/x')],
    ['uppercase deploymentName', 'deploymentName', () => deploymentFolder(ROOT, WORKSPACE, 'DB-Main')],
    ['deploymentName starting with -', 'deploymentName', () => deploymentFolder(ROOT, WORKSPACE, '-db')],
    ['deploymentName ending with -', 'deploymentName', () => deploymentFolder(ROOT, WORKSPACE, 'db-')],
    ['64-character deploymentName', 'deploymentName', () => deploymentFolder(ROOT, WORKSPACE, LONG_LABEL)],
    ['empty extension', 'extension', () => storedExtension('', false)],
    ['extension with leading dot', 'extension', () => storedExtension('.sql', false)],
    ['extension with /', 'extension', () => storedExtension('sql/../x', false)],
    ['extension ..', 'extension', () => storedExtension('..', true)],
    ['uppercase extension', 'extension', () => storedExtension('SQL', false)],
    ['too long extension', 'extension', () => storedExtension('x'.repeat(33), true)],
    ['sequence 0', 'sequence', () => backupFileName(T0, 'sql', 0)],
    ['sequence past the limit', 'sequence', () => backupFileName(T0, 'sql', MAX_FILES_PER_MILLISECOND + 1)],
  ];

  it.each(cases)('rejects %s', (_label, field, build) => {
    let caught: unknown;
    try {
      build();
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(InvalidBackupPathError);
    expect((caught as InvalidBackupPathError).field).toBe(field);
    expect((caught as InvalidBackupPathError).message).toContain(`invalid ${field}`);
  });

  it('accepts a 63-character deployment name and a 64-character workspace id', () => {
    expect(deploymentFolder(ROOT, 'a'.repeat(64), 'a'.repeat(63))).toBe(`/backups/${'a'.repeat(64)}/${'a'.repeat(63)}`);
  });

  it('names the bad value in the message', () => {
    expect(() => deploymentFolder(ROOT, WORKSPACE, '../etc')).toThrow(
      'backup path: invalid deploymentName "../etc": must be a DNS label',
    );
  });
});

describe('sidecar format', () => {
  it('round-trips sha256sum lines', () => {
    expect(formatSidecar(SHA256, '20261122T031500.123Z.dump')).toBe(`${SHA256}  20261122T031500.123Z.dump\n`);
    expect(parseSidecar(formatSidecar(SHA256, 'x.dump'))).toEqual({ sha256: SHA256, fileName: 'x.dump' });
    expect(parseSidecar(`${SHA256} *x.dump\n`)).toEqual({ sha256: SHA256, fileName: 'x.dump' });
  });

  it.each([
    ['empty', ''],
    ['short hash', 'abc  x.dump\n'],
    ['two lines', `${SHA256}  a\n${SHA256}  b\n`],
    ['uppercase hex', `${'A'.repeat(64)}  x\n`],
  ])('rejects %s', (_label, text) => {
    expect(parseSidecar(text)).toBeNull();
  });
});
