/**
 * The cheap format check of a stored backup file, per format: proof that the bytes are a complete dump of their kind,
 * short of restoring them. Run by the worker right after each backup and by `npm run backup -- verify`.
 *
 * - `postgres-custom`: `pg_restore --list` must read the table of contents (exit 0, at least one entry), then
 *   `pg_restore --file=/dev/null` must read every data block. `--list` alone reads only the header and the table of
 *   contents, which come first: a dump cut anywhere in its data still lists fine (measured), a full read does not.
 *   The list's `TABLE DATA` entries are the dump's tables.
 * - `mysql-sql`: decompressed as a stream, the last non-empty line must start with `-- Dump completed`; its
 *   `CREATE TABLE` statements are the dump's tables.
 * - `redis-rdb`: `REDIS` + version at the start, the EOF opcode and the CRC-64 of the whole file at the end.
 * - `mongo-archive`: the archive magic number (inside the gzip stream when the file is one gzip stream).
 * - any other `.gz` file: gzip integrity (the whole stream decompresses and its trailer CRC-32 and length match).
 * Gzipped files are always decompressed completely, so every check of a `.gz` file includes gzip integrity.
 * Memory stays flat: files are streamed and only a small head or tail is kept.
 *
 * Outcomes about the file are data (`{ ok: false, error }`); a check that cannot run (no pg_restore, a dump newer
 * than the local pg_restore understands, an unreadable file) throws `FormatCheckUnavailableError` or the I/O error.
 */
import { spawn } from 'node:child_process';
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AgeDecryptError, type AgeIdentity } from '../encryption/index.ts';
import { createStderrTail, redactSecrets } from '../shared/index.ts';
import {
  encodingOfExtension,
  IdentityRequiredError,
  isCorruptionError,
  openDecodedStream,
  READ_NO_FOLLOW,
  type StoredEncoding,
} from '../storage/index.ts';
import { ByteTail } from './byte-tail.ts';
import { describeTables, isTableDataEntry, SqlTableCounter } from './dump-tables.ts';
import { checkDumpTrailer } from './mysql-trailer.ts';
import { RdbChecker } from './rdb-format.ts';

/** What the check needs from a BackupRecord. */
export interface FormatCheckInput {
  path: string;
  /** The record's `format`, e.g. `postgres-custom`. */
  format: string | null;
  /** The stored file's extension, e.g. `sql.gz`. */
  extension: string | null;
}

/**
 * How the file fared; `method` names the check (stored as `verifyMethod`), `error` says what is wrong for a person.
 * `tables`: how many tables the dump holds, for the formats whose tables are counted (`postgres-custom`, `mysql-sql`;
 * see dump-tables.ts).
 */
export type FormatCheck =
  { ok: true; method: string; detail: string; tables?: number } | { ok: false; method: string; error: string };

export interface FormatCheckOptions {
  signal?: AbortSignal;
  /** The pg_restore binary; `pg_restore` from PATH by default. */
  pgRestoreBinary?: string;
  /** age identities for encrypted files; without them an encrypted file's check cannot run. */
  identities?: readonly AgeIdentity[] | undefined;
}

/** A check that could not run: the fault lies with the worker (a missing or too old tool), not (known to be) the file. */
export class FormatCheckUnavailableError extends Error {
  override readonly name = 'FormatCheckUnavailableError';
  constructor(
    readonly method: string,
    readonly detail: string,
  ) {
    super(`format check ${method} could not run: ${detail}`);
  }
}

export const PG_RESTORE_METHOD = 'pg_restore';
export const MYSQL_TRAILER_METHOD = 'mysql-trailer';
export const RDB_CHECKSUM_METHOD = 'rdb-checksum';
export const RDB_HEADER_METHOD = 'rdb-header';
export const MONGO_ARCHIVE_METHOD = 'mongo-archive';
export const GZIP_METHOD = 'gzip';
export const ZSTD_METHOD = 'zstd';
export const AGE_METHOD = 'age';

/** mongodump's archive starts with 0x8199e26d, little-endian. */
const MONGO_ARCHIVE_MAGIC = Buffer.from([0x6d, 0xe2, 0x99, 0x81]);
const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);
/** Enough for the `-- Dump completed` line with room for a long last statement before it. */
const DUMP_TAIL_BYTES = 4 * 1024;

/**
 * Checks the file of a backup by its format; null when there is no check for it (an uncompressed file of an
 * unknown format).
 */
export async function checkBackupFormat(
  file: FormatCheckInput,
  options: FormatCheckOptions = {},
): Promise<FormatCheck | null> {
  const encoding = encodingOfExtension(file.extension ?? '');
  const read: FileReading = { path: file.path, encoding, identities: options.identities, signal: options.signal };
  switch (file.format) {
    case 'postgres-custom':
      return checkPostgresCustom(read, options);
    case 'mysql-sql':
      return checkMysqlDump(read);
    case 'redis-rdb':
      return checkRdb(read);
    case 'mongo-archive':
      return encoding.encrypted ? checkEncryptedMongoArchive(read) : checkMongoArchive(file.path, options.signal);
    default:
      return encoding.compression !== 'none' || encoding.encrypted ? checkEncoding(read) : null;
  }
}

/** A stored file and how to read it back. */
interface FileReading {
  path: string;
  encoding: StoredEncoding;
  identities: readonly AgeIdentity[] | undefined;
  signal: AbortSignal | undefined;
}

/** What the decoding proved, for the detail: `age decrypts, zstd intact, `. */
function describeDecoding(encoding: StoredEncoding): string {
  const parts = [
    ...(encoding.encrypted ? ['age decrypts'] : []),
    ...(encoding.compression !== 'none' ? [`${encoding.compression} intact`] : []),
  ];
  return parts.map((part) => `${part}, `).join('');
}

async function checkMysqlDump(read: FileReading): Promise<FormatCheck> {
  const tail = new ByteTail(DUMP_TAIL_BYTES);
  const counter = new SqlTableCounter();
  const streamed = await streamFile(read, (chunk) => {
    tail.push(chunk);
    counter.push(chunk);
  });
  if (!streamed.ok) return { ok: false, method: MYSQL_TRAILER_METHOD, error: streamed.error };
  const { bytes, wholeStream } = tail.read();
  const trailer = checkDumpTrailer(bytes, wholeStream);
  const tables = counter.finish();
  return trailer.ok
    ? {
        ok: true,
        method: MYSQL_TRAILER_METHOD,
        detail: `${describeDecoding(read.encoding)}ends with "${trailer.line.trim()}", ${describeTables(tables)}`,
        tables,
      }
    : { ok: false, method: MYSQL_TRAILER_METHOD, error: trailer.problem };
}

async function checkRdb(read: FileReading): Promise<FormatCheck> {
  const checker = new RdbChecker();
  const streamed = await streamFile(read, (chunk) => checker.update(chunk));
  if (!streamed.ok) return { ok: false, method: RDB_CHECKSUM_METHOD, error: streamed.error };
  const result = checker.finish();
  if (!result.ok) return { ok: false, method: RDB_CHECKSUM_METHOD, error: result.problem };
  if (result.checksum === 'verified')
    return { ok: true, method: RDB_CHECKSUM_METHOD, detail: `RDB version ${result.version}, CRC-64 matches` };
  return {
    ok: true,
    method: RDB_HEADER_METHOD,
    detail: `RDB version ${result.version}, complete (the server wrote no checksum)`,
  };
}

async function checkMongoArchive(filePath: string, signal: AbortSignal | undefined): Promise<FormatCheck> {
  const start = await readHead(filePath, MONGO_ARCHIVE_MAGIC.length);
  if (start.subarray(0, 2).equals(GZIP_MAGIC)) {
    let head = Buffer.alloc(0);
    const gzipped: FileReading = {
      path: filePath,
      encoding: { compression: 'gzip', encrypted: false },
      identities: undefined,
      signal,
    };
    const streamed = await streamFile(gzipped, (chunk) => {
      if (head.length < MONGO_ARCHIVE_MAGIC.length)
        head = Buffer.concat([head, chunk.subarray(0, MONGO_ARCHIVE_MAGIC.length - head.length)]);
    });
    if (!streamed.ok) return { ok: false, method: MONGO_ARCHIVE_METHOD, error: streamed.error };
    return head.equals(MONGO_ARCHIVE_MAGIC)
      ? { ok: true, method: MONGO_ARCHIVE_METHOD, detail: 'gzip intact, archive magic number present' }
      : {
          ok: false,
          method: MONGO_ARCHIVE_METHOD,
          error: 'the decompressed file does not start with the mongodump archive magic number',
        };
  }
  // `mongodump --archive --gzip` compresses each collection inside the archive, not the archive itself: only the
  // magic number can be checked without parsing the archive.
  return start.equals(MONGO_ARCHIVE_MAGIC)
    ? { ok: true, method: MONGO_ARCHIVE_METHOD, detail: 'archive magic number present' }
    : {
        ok: false,
        method: MONGO_ARCHIVE_METHOD,
        error: 'the file does not start with the mongodump archive magic number (nor is it gzip)',
      };
}

/** An encrypted archive: it must decrypt completely, and start with the archive (or gzip) magic number. */
async function checkEncryptedMongoArchive(read: FileReading): Promise<FormatCheck> {
  let head = Buffer.alloc(0);
  const decryptOnly: FileReading = { ...read, encoding: { compression: 'none', encrypted: true } };
  const streamed = await streamFile(decryptOnly, (chunk) => {
    if (head.length < MONGO_ARCHIVE_MAGIC.length)
      head = Buffer.concat([head, chunk.subarray(0, MONGO_ARCHIVE_MAGIC.length - head.length)]);
  });
  if (!streamed.ok) return { ok: false, method: MONGO_ARCHIVE_METHOD, error: streamed.error };
  return head.equals(MONGO_ARCHIVE_MAGIC) || head.subarray(0, 2).equals(GZIP_MAGIC)
    ? { ok: true, method: MONGO_ARCHIVE_METHOD, detail: 'age decrypts, archive magic number present' }
    : { ok: false, method: MONGO_ARCHIVE_METHOD, error: 'the decrypted file is not a mongodump archive' };
}

/** A file of no known format: its compression (and encryption) must read back completely. */
async function checkEncoding(read: FileReading): Promise<FormatCheck> {
  let bytes = 0;
  const method =
    read.encoding.compression === 'zstd'
      ? ZSTD_METHOD
      : read.encoding.compression === 'gzip'
        ? GZIP_METHOD
        : AGE_METHOD;
  const streamed = await streamFile(read, (chunk) => (bytes += chunk.length));
  return streamed.ok
    ? { ok: true, method, detail: `${describeDecoding(read.encoding)}decodes completely (${bytes} bytes)` }
    : { ok: false, method, error: streamed.error };
}

/**
 * Streams the file, decrypted and decompressed as its extension says, into `onChunk`. Damage (a gzip, zstd or age
 * error) is an outcome about the file; other errors (the file is missing or unreadable, the check was aborted) are
 * thrown, and so is a missing or non-matching identity, as `FormatCheckUnavailableError`.
 */
async function streamFile(
  read: FileReading,
  onChunk: (chunk: Buffer) => void,
): Promise<{ ok: true } | { ok: false; error: string }> {
  const consume = async (chunks: AsyncIterable<Buffer>) => {
    for await (const chunk of chunks) onChunk(chunk);
  };
  try {
    await pipeline(openDecoded(read), consume, read.signal ? { signal: read.signal } : {});
  } catch (error) {
    if (isCorruptionError(error) && !read.signal?.aborted)
      return { ok: false, error: describeCorruption(error, read.encoding) };
    throw translateKeyError(error);
  }
  return { ok: true };
}

function openDecoded(read: FileReading, decompress = true): Readable {
  try {
    return openDecodedStream(read.path, read.encoding, { identities: read.identities, decompress });
  } catch (error) {
    throw translateKeyError(error);
  }
}

function describeCorruption(error: Error, encoding: StoredEncoding): string {
  if (error instanceof AgeDecryptError) return `${error.message} (the file is damaged or truncated)`;
  return `${encoding.compression}: ${error.message} (the file is truncated or corrupt)`;
}

/** A missing or non-matching identity says nothing about the file: the check could not run here. */
function translateKeyError(error: unknown): unknown {
  if (error instanceof IdentityRequiredError) return new FormatCheckUnavailableError(AGE_METHOD, error.message);
  if (error instanceof AgeDecryptError && error.failure === 'no-match')
    return new FormatCheckUnavailableError(AGE_METHOD, `${error.message} (BACKUP_AGE_IDENTITY_FILE)`);
  return error;
}

async function readHead(filePath: string, length: number): Promise<Buffer> {
  const handle = await open(filePath, READ_NO_FOLLOW);
  try {
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buffer, 0, length, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

async function checkPostgresCustom(read: FileReading, options: FormatCheckOptions): Promise<FormatCheck> {
  // An encrypted dump is decrypted in memory into pg_restore's stdin (pg_restore reads a custom dump from a pipe as
  // pg_dump wrote it to one); a plain one is read by pg_restore from the file.
  const input = read.encoding.encrypted ? () => openDecoded(read, false) : undefined;
  const fileArgs = input ? [] : [read.path];
  const binary = options.pgRestoreBinary ?? 'pg_restore';
  let entries = 0;
  let tables = 0;
  let partial = '';
  const countLine = (line: string) => {
    if (isTocEntry(line)) entries += 1;
    if (isTableDataEntry(line)) tables += 1;
  };
  const countEntries = (chunk: Buffer) => {
    const lines = (partial + chunk.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    lines.forEach(countLine);
  };
  const listed = await runPgRestore(binary, ['--list', ...fileArgs], countEntries, options.signal, input);
  countLine(partial);
  if (listed.inputError)
    return { ok: false, method: PG_RESTORE_METHOD, error: describeCorruption(listed.inputError, read.encoding) };
  if (listed.exitCode !== 0)
    return {
      ok: false,
      method: PG_RESTORE_METHOD,
      error: `pg_restore --list failed (exit ${listed.exitCode}): ${listed.stderr}`,
    };
  if (entries === 0)
    return {
      ok: false,
      method: PG_RESTORE_METHOD,
      error: 'pg_restore --list found no entries in the table of contents',
    };
  const whole = await runPgRestore(binary, ['--file=/dev/null', ...fileArgs], () => undefined, options.signal, input);
  if (whole.inputError)
    return { ok: false, method: PG_RESTORE_METHOD, error: describeCorruption(whole.inputError, read.encoding) };
  if (whole.exitCode !== 0)
    return {
      ok: false,
      method: PG_RESTORE_METHOD,
      error: `pg_restore could not read the whole dump (exit ${whole.exitCode}): ${whole.stderr}`,
    };
  return {
    ok: true,
    method: PG_RESTORE_METHOD,
    detail: `${entries} table-of-contents entries (data of ${describeTables(tables)}), every data block readable`,
    tables,
  };
}

/** A line of `pg_restore --list` output that is an entry (not a `;` comment, not blank). */
function isTocEntry(line: string): boolean {
  return line.trim() !== '' && !line.startsWith(';');
}

/**
 * Runs pg_restore (argv, no shell) with a minimal environment: it only reads the file and never connects, so the
 * worker's own credentials are none of its business. A dump made by a newer pg_dump than this pg_restore reads
 * cannot be judged: that throws `FormatCheckUnavailableError`.
 */
function runPgRestore(
  binary: string,
  args: string[],
  onStdout: (chunk: Buffer) => void,
  signal: AbortSignal | undefined,
  input?: () => Readable,
): Promise<{ exitCode: number; stderr: string; inputError?: Error }> {
  return new Promise((resolve, reject) => {
    signal?.throwIfAborted();
    const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', LC_ALL: 'C' };
    const child = spawn(binary, args, {
      env: env as NodeJS.ProcessEnv,
      stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      ...(signal ? { signal } : {}),
    });
    const stderr = createStderrTail({ maxLines: 5, maxChars: 1_000 });
    child.stdout!.on('data', onStdout);
    // The decoded input's own failure (a damaged file, a wrong identity) is what matters, not pg_restore's view of
    // a cut-off stdin; pg_restore --list stops reading after the table of contents (EPIPE then is normal).
    let inputError: Error | undefined;
    if (input && child.stdin) {
      let source: Readable;
      try {
        source = input();
      } catch (error) {
        child.kill();
        reject(error);
        return;
      }
      pipeline(source, child.stdin).catch((error: unknown) => {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EPIPE' || code === 'ERR_STREAM_PREMATURE_CLOSE') return;
        inputError ??= error instanceof Error ? error : new Error(String(error));
        child.kill();
      });
    }
    child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.once('error', (error: NodeJS.ErrnoException) => {
      if (signal?.aborted) reject(signal.reason);
      else if (error.code === 'ENOENT')
        reject(
          new FormatCheckUnavailableError(
            PG_RESTORE_METHOD,
            `${binary} is not installed on the worker (install postgresql-client)`,
          ),
        );
      else reject(error);
    });
    child.once('close', (code, killedBy) => {
      if (signal?.aborted) return reject(signal.reason);
      const text = stderr
        .read((value) => redactSecrets(value))
        .replace(/\n/g, ' ')
        .trim();
      if (/unsupported version \([\d.]+\) in file header/.test(text)) {
        return reject(
          new FormatCheckUnavailableError(
            PG_RESTORE_METHOD,
            `the dump was made by a newer pg_dump than the worker's pg_restore reads: ${text}`,
          ),
        );
      }
      if (inputError && !isCorruptionError(inputError)) return reject(translateKeyError(inputError));
      resolve({
        exitCode: code ?? -1,
        stderr: text || `ended by ${killedBy ?? 'an unknown cause'}`,
        ...(inputError ? { inputError } : {}),
      });
    });
  });
}
