import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readFile, readdir, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/lib/shared/logger.ts';
import {
  findOrphanTempFiles,
  listBackupFiles,
  measureBackupUsage,
  removeBackupFile,
  removeStaleTempFiles,
} from '../../../src/lib/storage/backup-files.ts';
import {
  createFileBackupStore,
  createFileSink,
  type BackupStore,
  type BackupTarget,
  type BackupWriter,
  type CreateFileSink,
} from '../../../src/lib/storage/backup-store.ts';
import { OutsideDeploymentFolderError, StorageFailedError } from '../../../src/lib/storage/storage-errors.ts';
import { verifyBackupFile } from '../../../src/lib/storage/verify-backup.ts';

const run = promisify(execFile);

const MIB = 1024 * 1024;
const ROUND_TRIP_BYTES = 20 * MIB;
const CHUNK_BYTES = 64 * 1024;
const SMALL_BYTES = 256 * 1024;
const DISK_FULL_AFTER_BYTES = 1 * MIB;
const BOUNDED_STREAM_BYTES = 32 * MIB;
/** Bytes allowed between the caller's write() and the disk: a few stage buffers and one chunk, far below the total. */
const IN_FLIGHT_LIMIT_BYTES = 1 * MIB;
const WORKSPACE = 'clx0workspace1';
const STARTED_AT = new Date('2026-11-22T03:15:00.123Z');
const LONG_AGO = new Date('2026-01-01T00:00:00Z');
const CUTOFF = new Date('2026-06-01T00:00:00Z');
const RECENTLY = new Date('2026-11-01T00:00:00Z');

const logger = createLogger({ level: 'silent' });
let scratch: string;
let root: string;
let store: BackupStore;

beforeEach(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), 'backup-store-'));
  root = path.join(scratch, 'backups');
  await mkdir(root);
  store = createFileBackupStore({ root, logger });
});

afterEach(async () => {
  await rm(scratch, { recursive: true, force: true });
});

function target(overrides: Partial<BackupTarget> = {}): BackupTarget {
  return {
    workspaceId: WORKSPACE,
    deploymentName: 'db-a',
    extension: 'sql',
    compressed: false,
    startedAt: STARTED_AT,
    ...overrides,
  };
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** Writes like a well-behaved producer: waits for 'drain' whenever write() says so; fails when the stream does. */
async function writeChunks(
  stream: Writable,
  chunks: Iterable<Buffer>,
  afterWrite: (bytes: number) => void = () => undefined,
): Promise<void> {
  for (const chunk of chunks) {
    if (stream.destroyed) throw stream.errored ?? new Error('the stream was destroyed');
    const ready = stream.write(chunk);
    afterWrite(chunk.length);
    if (!ready) await drained(stream);
  }
}

function* chunksOf(data: Buffer): Iterable<Buffer> {
  for (let offset = 0; offset < data.length; offset += CHUNK_BYTES) yield data.subarray(offset, offset + CHUNK_BYTES);
}

function drained(stream: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    const onDrain = () => {
      stream.off('close', onClose);
      resolve();
    };
    const onClose = () => {
      stream.off('drain', onDrain);
      reject(stream.errored ?? new Error('the stream closed'));
    };
    stream.once('drain', onDrain);
    stream.once('close', onClose);
  });
}

async function storeBackup(data: Buffer, overrides: Partial<BackupTarget> = {}) {
  const writer = await store.open(target(overrides));
  await writeChunks(writer.stream, chunksOf(data));
  return writer.commit();
}

async function expectRejection<T extends Error>(
  promise: Promise<unknown>,
  type: new (...args: never[]) => T,
): Promise<T> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(type);
  return error as T;
}

const folderOf = (deploymentName: string) => path.join(root, WORKSPACE, deploymentName);
const exists = (filePath: string) =>
  lstat(filePath).then(
    () => true,
    () => false,
  );

/** A sink that stores the first `limit` bytes, then fails like a full disk. */
function diskFullAfter(limit: number): CreateFileSink {
  return (file) => {
    const real = createFileSink(file);
    let accepted = 0;
    return new Writable({
      write(chunk: Buffer, _encoding, callback) {
        const room = limit - accepted;
        accepted += chunk.length;
        if (room >= chunk.length) return void real.write(chunk, callback);
        real.write(chunk.subarray(0, Math.max(0, room)), () =>
          callback(
            Object.assign(new Error('ENOSPC: no space left on device, write'), {
              code: 'ENOSPC',
              errno: -28,
              syscall: 'write',
            }),
          ),
        );
      },
    });
  };
}

describe('storing a backup', () => {
  it.each([
    { label: 'gzipped (sql → sql.gz)', extension: 'sql', compressed: false, storedExtension: 'sql.gz' },
    { label: 'as is (dump)', extension: 'dump', compressed: true, storedExtension: 'dump' },
  ])('round-trips 20 MB of random data $label', async ({ extension, compressed, storedExtension }) => {
    const data = randomBytes(ROUND_TRIP_BYTES);
    const writer = await store.open(target({ extension, compressed }));
    expect(path.basename(writer.tempPath)).toBe(`.20261122T031500.123Z.${storedExtension}.partial`);
    await writeChunks(writer.stream, chunksOf(data));
    const stored = await writer.commit();

    expect(stored).toMatchObject({
      path: path.join(folderOf('db-a'), `20261122T031500.123Z.${storedExtension}`),
      extension: storedExtension,
    });
    expect(writer.bytesWritten()).toBe(ROUND_TRIP_BYTES);
    // The raw head (what the engine version is read from) is the export's own first bytes, before any compression.
    expect(writer.head().equals(data.subarray(0, 4 * 1024))).toBe(true);
    const onDisk = await readFile(stored.path);
    expect(stored.sizeBytes).toBe(BigInt(onDisk.length));
    expect(stored.sha256).toBe(sha256(onDisk));
    const content = compressed ? onDisk : gunzipSync(onDisk);
    expect(sha256(content)).toBe(sha256(data));
    expect(await readdir(folderOf('db-a'))).toEqual([stored.fileName, `${stored.fileName}.sha256`]);
    expect((await lstat(stored.path)).mode & 0o777).toBe(0o600);

    const check = await run('sha256sum', ['-c', `${stored.fileName}.sha256`], { cwd: folderOf('db-a') });
    expect(check.stdout).toBe(`${stored.fileName}: OK\n`);
    expect(await verifyBackupFile(stored.path, stored.sha256)).toEqual({ ok: true, sizeBytes: stored.sizeBytes });
  });

  it('gives writers opened at the same instant different names, and a later one the next free name', async () => {
    const [first, second] = await Promise.all([store.open(target()), store.open(target())]);
    expect(new Set([first.path, second.path]).size).toBe(2);
    await writeChunks(first.stream, [Buffer.from('first')]);
    const firstStored = await first.commit();
    const third = await store.open(target());
    await writeChunks(second.stream, [Buffer.from('second')]);
    await writeChunks(third.stream, [Buffer.from('third')]);
    const stored = [firstStored, await second.commit(), await third.commit()];

    expect(stored.map((backup) => backup.fileName).sort()).toEqual([
      '20261122T031500.123Z.sql.gz',
      '20261122T031500.123Z_2.sql.gz',
      '20261122T031500.123Z_3.sql.gz',
    ]);
    const contents = await Promise.all(
      stored.map(async (backup) => gunzipSync(await readFile(backup.path)).toString()),
    );
    expect(contents).toEqual(['first', 'second', 'third']);
  });

  it('keeps the bytes between the caller and the disk bounded when the disk is slow', async () => {
    let sunk = 0;
    const slowSink: CreateFileSink = (file) => {
      const real = createFileSink(file);
      return new Writable({
        write(chunk: Buffer, _encoding, callback) {
          setImmediate(() =>
            real.write(chunk, (error) => {
              sunk += chunk.length;
              callback(error);
            }),
          );
        },
      });
    };
    const slowStore = createFileBackupStore({ root, logger, createSink: slowSink });
    const writer = await slowStore.open(target({ compressed: true, extension: 'dump' }));
    const chunk = randomBytes(CHUNK_BYTES);
    let produced = 0;
    let largestInFlight = 0;
    let refusals = 0;
    const chunks = Array.from({ length: BOUNDED_STREAM_BYTES / CHUNK_BYTES }, () => chunk);
    await writeChunks(writer.stream, chunks, (bytes) => {
      produced += bytes;
      largestInFlight = Math.max(largestInFlight, produced - sunk);
      if (writer.stream.writableNeedDrain) refusals += 1;
    });
    const stored = await writer.commit();

    expect(stored.sizeBytes).toBe(BigInt(BOUNDED_STREAM_BYTES));
    expect(refusals).toBeGreaterThan(0);
    expect(largestInFlight).toBeLessThanOrEqual(IN_FLIGHT_LIMIT_BYTES);
  });
});

describe('failures while storing', () => {
  it.each([
    { label: 'gzipped', compressed: false },
    { label: 'as is', compressed: true },
  ])('a full disk ($label) fails the stream and commit with StorageFailed, leaving no file', async ({ compressed }) => {
    const fullStore = createFileBackupStore({ root, logger, createSink: diskFullAfter(DISK_FULL_AFTER_BYTES) });
    const writer = await fullStore.open(target({ compressed, extension: compressed ? 'dump' : 'sql' }));
    const streamError = await writeChunks(writer.stream, chunksOf(randomBytes(4 * DISK_FULL_AFTER_BYTES))).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(streamError).toMatchObject({ code: 'ENOSPC' });

    const error = await expectRejection(writer.commit(), StorageFailedError);
    expect(error).toMatchObject({ kind: 'StorageFailed', stage: 'write', code: 'ENOSPC' });
    expect(error.cause).toBe(streamError);
    expect(await exists(writer.tempPath)).toBe(false);
    expect(await exists(writer.path)).toBe(false);
    expect(await readdir(folderOf('db-a'))).toEqual([]);
    await writer.abort();
  });

  it('abort removes the temporary file, is idempotent, and a later commit fails', async () => {
    const writer = await store.open(target());
    await writeChunks(writer.stream, chunksOf(randomBytes(SMALL_BYTES)));
    expect(await exists(writer.tempPath)).toBe(true);
    await Promise.all([writer.abort(), writer.abort()]);
    await writer.abort();

    expect(await readdir(folderOf('db-a'))).toEqual([]);
    const error = await expectRejection(writer.commit(), StorageFailedError);
    expect(error.kind).toBe('StorageFailed');
  });

  it('abort after a successful commit keeps the backup', async () => {
    const writer = await store.open(target());
    await writeChunks(writer.stream, [Buffer.from('kept')]);
    const stored = await writer.commit();
    await writer.abort();
    expect(await exists(stored.path)).toBe(true);
  });

  it('a failure in the last step (sidecar rename) removes the renamed file too', async () => {
    const writer = await store.open(target());
    await writeChunks(writer.stream, [Buffer.from('data')]);
    await mkdir(`${writer.path}.sha256`);
    const error = await expectRejection(writer.commit(), StorageFailedError);
    expect(error).toMatchObject({ stage: 'commit', code: 'EISDIR' });
    expect(await readdir(folderOf('db-a'))).toEqual([path.basename(`${writer.path}.sha256`)]);
  });

  const aFile = async () => {
    await writeFile(path.join(scratch, 'a-file'), '');
    return path.join(scratch, 'a-file');
  };
  it.each([
    {
      label: 'a root below a regular file',
      code: 'ENOTDIR',
      makeRoot: async () => path.join(await aFile(), 'backups'),
    },
    { label: 'a root that is a regular file', code: 'ENOTDIR', makeRoot: aFile },
    {
      label: 'a missing root (volume not mounted)',
      code: 'ENOENT',
      makeRoot: async () => path.join(scratch, 'not-mounted'),
    },
  ])('open fails with StorageFailed for $label', async ({ code, makeRoot }) => {
    const badRoot = await makeRoot();
    const error = await expectRejection(
      createFileBackupStore({ root: badRoot, logger }).open(target()),
      StorageFailedError,
    );
    expect(error).toMatchObject({ kind: 'StorageFailed', stage: 'open', code });
    expect(await exists(path.join(scratch, 'not-mounted'))).toBe(false);
  });

  it('open fails with StorageFailed for invalid names and for a deployment folder that is a link out of the root', async () => {
    const outside = path.join(scratch, 'outside');
    await mkdir(outside);
    await mkdir(path.join(root, WORKSPACE));
    await symlink(outside, folderOf('db-link'));
    for (const bad of [
      target({ deploymentName: '../x' }),
      target({ workspaceId: 'A' }),
      target({ extension: 'SQL' }),
      target({ deploymentName: 'db-link' }),
    ]) {
      const error = await expectRejection(store.open(bad), StorageFailedError);
      expect(error.kind).toBe('StorageFailed');
    }
    expect(await readdir(outside)).toEqual([]);
  });
});

describe('removeBackupFile', () => {
  let kept: string;
  let sibling: string;
  let outsideFile: string;

  beforeEach(async () => {
    kept = (await storeBackup(Buffer.from('db-a backup'))).path;
    sibling = (await storeBackup(Buffer.from('db-ab backup'), { deploymentName: 'db-ab' })).path;
    outsideFile = path.join(scratch, 'precious.sql.gz');
    await writeFile(outsideFile, 'not a backup');
  });

  it('deletes the file and its sidecar, then reports it missing', async () => {
    expect(await removeBackupFile(root, WORKSPACE, 'db-a', kept)).toEqual({ removed: true, missing: false });
    expect(await readdir(folderOf('db-a'))).toEqual([]);
    expect(await removeBackupFile(root, WORKSPACE, 'db-a', kept)).toEqual({ removed: false, missing: true });
    expect(await removeBackupFile(root, WORKSPACE, 'db-gone', path.join(folderOf('db-gone'), 'x.dump'))).toEqual({
      removed: false,
      missing: true,
    });
  });

  it('refuses paths outside the deployment folder and touches nothing', async () => {
    await symlink(outsideFile, path.join(folderOf('db-a'), '20260101T000000.000Z.sql.gz'));
    const workspaceLink = 'clx0linked';
    await mkdir(path.join(root, workspaceLink));
    await mkdir(path.join(scratch, 'elsewhere'));
    await writeFile(path.join(scratch, 'elsewhere', 'victim.dump'), 'victim');
    await symlink(path.join(scratch, 'elsewhere'), path.join(root, workspaceLink, 'db-a'));
    const refused: Array<[string, string, string]> = [
      ['db-a', sibling, 'sibling folder db-ab'],
      ['db-a', path.join(folderOf('db-a'), '..', 'db-ab', path.basename(sibling)), '.. into the sibling'],
      ['db-a', outsideFile, 'file outside the root'],
      ['db-a', path.relative(process.cwd(), kept), 'relative path'],
      ['db-a', path.join(folderOf('db-a'), '20260101T000000.000Z.sql.gz'), 'link to a file outside'],
      ['db-a', path.join(root, workspaceLink, 'db-a', 'victim.dump'), 'deployment folder that links outside'],
    ];
    for (const [deploymentName, candidate, label] of refused) {
      const workspaceId = label.startsWith('deployment folder') ? workspaceLink : WORKSPACE;
      await expect(removeBackupFile(root, workspaceId, deploymentName, candidate), label).rejects.toBeInstanceOf(
        OutsideDeploymentFolderError,
      );
    }
    await expect(removeBackupFile(root, WORKSPACE, 'db-a', `${kept}.sha256`)).rejects.toBeInstanceOf(
      OutsideDeploymentFolderError,
    );

    for (const untouched of [
      kept,
      `${kept}.sha256`,
      sibling,
      `${sibling}.sha256`,
      outsideFile,
      path.join(scratch, 'elsewhere', 'victim.dump'),
    ]) {
      expect(await exists(untouched), untouched).toBe(true);
    }
    expect(await readFile(outsideFile, 'utf8')).toBe('not a backup');
  });
});

describe('crash recovery and reports', () => {
  it('removes only .partial files older than the cutoff, only inside the root', async () => {
    const folder = folderOf('db-a');
    await mkdir(folder, { recursive: true });
    const files = {
      stale: path.join(folder, '.20260101T000000.000Z.sql.gz.partial'),
      staleSidecar: path.join(folder, '.20260101T000000.000Z.sql.gz.sha256.partial'),
      fresh: path.join(folder, '.20261101T000000.000Z.sql.gz.partial'),
      oldBackup: path.join(folder, '20260101T000000.000Z.sql.gz'),
      oldHidden: path.join(folder, '.keep'),
      outsideRoot: path.join(scratch, '.20260101T000000.000Z.dump.partial'),
      behindLink: path.join(scratch, 'linked', '.20260101T000000.000Z.dump.partial'),
    };
    await mkdir(path.join(scratch, 'linked'));
    await symlink(path.join(scratch, 'linked'), folderOf('db-link'));
    for (const [name, file] of Object.entries(files)) {
      await writeFile(file, name);
      const time = name === 'fresh' ? RECENTLY : LONG_AGO;
      await utimes(file, time, time);
    }

    expect((await findOrphanTempFiles(root)).map((file) => file.path)).toEqual(
      [files.stale, files.staleSidecar, files.fresh].sort(),
    );
    const result = await removeStaleTempFiles(root, CUTOFF);
    expect(result.failed).toEqual([]);
    expect(result.removed.map((file) => file.path).sort()).toEqual([files.stale, files.staleSidecar].sort());
    for (const [name, file] of Object.entries(files)) {
      expect(await exists(file), name).toBe(name !== 'stale' && name !== 'staleSidecar');
    }
  });

  it('lists finished backups with size and time, and measures the bytes they use', async () => {
    const first = await storeBackup(randomBytes(SMALL_BYTES));
    const second = await storeBackup(randomBytes(SMALL_BYTES), {
      extension: 'dump',
      compressed: true,
      startedAt: new Date(STARTED_AT.getTime() + 1),
    });
    const other = await storeBackup(Buffer.from('other'), { deploymentName: 'db-b' });
    const inProgress = await store.open(target());

    const listed = await listBackupFiles(root, WORKSPACE, 'db-a');
    expect(listed.map(({ fileName, sizeBytes }) => ({ fileName, sizeBytes }))).toEqual([
      { fileName: first.fileName, sizeBytes: first.sizeBytes },
      { fileName: second.fileName, sizeBytes: second.sizeBytes },
    ]);
    expect(listed.every((file) => file.modifiedAt instanceof Date && !Number.isNaN(file.modifiedAt.getTime()))).toBe(
      true,
    );
    expect(await listBackupFiles(root, WORKSPACE, 'db-none')).toEqual([]);
    expect(await measureBackupUsage(root)).toEqual({
      totalBytes: first.sizeBytes + second.sizeBytes + other.sizeBytes,
      fileCount: 3,
    });
    await inProgress.abort();
  });
});

describe('verifyBackupFile', () => {
  let stored: Awaited<ReturnType<BackupWriter['commit']>>;

  beforeEach(async () => {
    stored = await storeBackup(randomBytes(SMALL_BYTES), { extension: 'dump', compressed: true });
  });

  it('detects a flipped byte', async () => {
    const bytes = await readFile(stored.path);
    bytes[SMALL_BYTES / 2] = (bytes[SMALL_BYTES / 2] ?? 0) ^ 0xff;
    await writeFile(stored.path, bytes);
    expect(await verifyBackupFile(stored.path, stored.sha256)).toMatchObject({
      ok: false,
      reason: 'checksum-mismatch',
    });
  });

  it.each([
    {
      label: 'names another checksum',
      sidecar: () => `${'0'.repeat(64)}  ${stored.fileName}\n`,
      reason: 'sidecar-mismatch',
    },
    { label: 'names another file', sidecar: () => `${stored.sha256}  other.dump\n`, reason: 'sidecar-mismatch' },
    { label: 'is garbage', sidecar: () => 'garbage', reason: 'sidecar-invalid' },
  ])('detects a sidecar that $label', async ({ sidecar, reason }) => {
    await writeFile(`${stored.path}.sha256`, sidecar());
    expect(await verifyBackupFile(stored.path, stored.sha256)).toMatchObject({ ok: false, reason });
  });

  it('reports a missing sidecar and a missing file', async () => {
    await rm(`${stored.path}.sha256`);
    expect(await verifyBackupFile(stored.path, stored.sha256)).toMatchObject({ ok: false, reason: 'sidecar-missing' });
    await rm(stored.path);
    expect(await verifyBackupFile(stored.path, stored.sha256)).toMatchObject({ ok: false, reason: 'file-missing' });
  });
});
