/**
 * How a backup's bytes are stored: compressed by the store (`.gz`, `.zst`, or not at all) and, when the deployment
 * has age recipients, encrypted (`.age`), always in that order, so the extension says it outside in:
 * `sql.zst.age` is an age file holding a zstd stream of SQL. Reading goes the other way: decrypt, then decompress.
 *
 * Writing never holds plaintext on disk: the export's bytes pass through the compressor and the encryptor in memory
 * before the file sink sees them. Reading needs the age identities only when the file is encrypted; without them it
 * refuses with `IdentityRequiredError`, naming the variable to set.
 */
import { createReadStream, openSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { type Readable, Transform, pipeline } from 'node:stream';
import { constants, createGunzip, createGzip, createZstdCompress, createZstdDecompress } from 'node:zlib';
import { AgeDecryptError, AgeDecryptStream, type AgeIdentity, findOpeningIdentity } from '../encryption/index.ts';
import { readFileChunks } from './file-chunks.ts';
import { READ_NO_FOLLOW } from './file-system.ts';

/** The compressions the store applies (a deployment's `backupCompression`). */
export const COMPRESSIONS = ['gzip', 'zstd', 'none'] as const;
export type Compression = (typeof COMPRESSIONS)[number];

/** How a stored file is encoded on top of the export's own bytes. */
export interface StoredEncoding {
  compression: Compression;
  encrypted: boolean;
}

export const AGE_SUFFIX = 'age';
const COMPRESSION_SUFFIX: Record<Compression, string | null> = { gzip: 'gz', zstd: 'zst', none: null };
/**
 * zstd's level 3 (its own default: faster than gzip -6 and smaller), with matches of at least 7 bytes instead of
 * level 3's 5; the checksum makes truncation detectable. Dumps are text full of hex, digits and ids, where 5-byte
 * matches are everywhere and worth nothing: measured with the zstd CLI (`-3` against `-3 --zstd=mml=7`), the
 * plain-SQL dump of random bytea (hex) took 4.4 s of CPU for 269.8 MiB against 1.1 s for 261.8 MiB, a pgbench
 * dump 2.29 -> 1.97 MiB, MariaDB dumps 116.5 -> 114.1 and 117.1 -> 113.1 MiB (with --hex-blob), at equal or lower CPU.
 * The price is on other kinds of bytes: JavaScript text +2.5%, an executable +4.5%, a tar of /usr/share/doc +0.9%.
 * Any zstd decoder reads the result (minimum match length is the encoder's choice; window and memory unchanged).
 */
export const ZSTD_MIN_MATCH = 7;
const ZSTD_PARAMS = {
  [constants.ZSTD_c_compressionLevel]: 3,
  [constants.ZSTD_c_minMatch]: ZSTD_MIN_MATCH,
  [constants.ZSTD_c_checksumFlag]: 1,
};

/** The suffixes the encoding adds to the export's extension (`['zst', 'age']`). */
export function encodingSuffixes(encoding: StoredEncoding): string[] {
  const compression = COMPRESSION_SUFFIX[encoding.compression];
  return [...(compression ? [compression] : []), ...(encoding.encrypted ? [AGE_SUFFIX] : [])];
}

/**
 * The encoding a stored extension says: `.age` last means encrypted, then `.zst` zstd and `.gz` gzip. An export
 * that compresses itself (`archive.gz`) reads as gzip here: callers that stream the export's own bytes (restore)
 * decompress only what the store compressed.
 */
export function encodingOfExtension(extension: string): StoredEncoding {
  const parts = extension.split('.');
  const encrypted = parts.at(-1) === AGE_SUFFIX && parts.length > 1;
  if (encrypted) parts.pop();
  const last = parts.at(-1);
  const compression: Compression = last === 'zst' ? 'zstd' : last === 'gz' ? 'gzip' : 'none';
  return { compression, encrypted };
}

/**
 * The size of a compressor's output buffer (node:zlib's `chunkSize`, 16 KiB by default). A compressing job on the
 * thread pool stops when its output buffer is full and goes back to the main thread for another: with 16 KiB, a
 * 256 KiB batch of bytes that barely compress took some nine round trips, each waiting for the main thread to be free.
 * 1 MiB holds the output of several batches, so a batch is one job. Outputs are slices of it (no copy).
 */
export const COMPRESSOR_OUTPUT_BYTES = 1024 * 1024;

/** The compressing stage for `compression`, or null for none. */
export function createCompressor(compression: Compression): Transform | null {
  if (compression === 'gzip') return createGzip({ chunkSize: COMPRESSOR_OUTPUT_BYTES });
  if (compression === 'zstd') return createZstdCompress({ chunkSize: COMPRESSOR_OUTPUT_BYTES, params: ZSTD_PARAMS });
  return null;
}

/** The decompressing stage for `compression`, or null for none. */
export function createDecompressor(compression: Compression): Transform | null {
  if (compression === 'gzip') return createGunzip();
  if (compression === 'zstd') return createZstdDecompress();
  return null;
}

/** An encrypted backup must be read, and this process has no age identity. */
export class IdentityRequiredError extends Error {
  override readonly name = 'IdentityRequiredError';
  constructor(readonly filePath: string) {
    super(
      `${filePath} is encrypted (age) and this process has no identity to decrypt it: set BACKUP_AGE_IDENTITY_FILE ` +
        'to a file holding the AGE-SECRET-KEY-1… identity of one of its recipients',
    );
  }
}

export interface DecodeOptions {
  /** The age identities to try (the first that opens the file decrypts it). Required for an encrypted file. */
  identities?: readonly AgeIdentity[] | undefined;
  /** Also decompress (default true). False: only decrypt (the export compressed its own bytes). */
  decompress?: boolean;
  /** Sees the stored bytes as they are read, before decryption (to hash them). */
  onStoredChunk?: (chunk: Buffer) => void;
  highWaterMark?: number;
}

/**
 * The decoded bytes of a stored file, streamed: read, decrypted when encrypted, decompressed when compressed.
 * Throws `IdentityRequiredError` at once for an encrypted file without identities. The stream fails with
 * `AgeDecryptError` (wrong identity, damaged file) or zlib's `Z_…` / `ZSTD_…` errors; see {@link isCorruptionError}.
 */
export function openDecodedStream(filePath: string, encoding: StoredEncoding, options: DecodeOptions = {}): Readable {
  const identities = options.identities ?? [];
  if (encoding.encrypted && identities.length === 0) throw new IdentityRequiredError(filePath);
  // Never through a symbolic link: the path was located (locateBackupFile); a link planted since fails with ELOOP.
  const file = createReadStream(filePath, {
    fd: openSync(filePath, READ_NO_FOLLOW),
    highWaterMark: options.highWaterMark ?? 256 * 1024,
  });
  const stages: Array<Readable | Transform> = [file];
  const observe = options.onStoredChunk;
  if (observe) {
    // A stage, not a 'data' listener: a listener would switch the stream to flowing mode and lose chunks.
    stages.push(
      new Transform({
        transform(chunk: Buffer, _encoding, done) {
          observe(chunk);
          done(null, chunk);
        },
      }),
    );
  }
  if (encoding.encrypted) stages.push(new AgeDecryptStream(identities));
  const decompressor = options.decompress === false ? null : createDecompressor(encoding.compression);
  if (decompressor) stages.push(decompressor);
  if (stages.length === 1) return file;
  // pipeline destroys every stage when one fails or the reader stops; the reader sees the error on the last stage.
  return (pipeline as unknown as (...streams: unknown[]) => Readable)(...stages, () => undefined);
}

/**
 * The decoded bytes of a stored file as chunks, like {@link openDecodedStream} (same errors, `onStoredChunk` sees the
 * stored bytes). A file stored as is (no compression, not encrypted) is read through one reused buffer
 * ({@link readFileChunks}), so a chunk is valid only until the next is asked for: a consumer that keeps one copies it.
 * Nothing is opened until the first chunk is asked for; stopping the iteration (`return()`) closes the file.
 * Throws `IdentityRequiredError` at once for an encrypted file without identities.
 */
export function readDecodedChunks(
  filePath: string,
  encoding: StoredEncoding,
  options: Omit<DecodeOptions, 'highWaterMark'> = {},
): AsyncIterable<Buffer> {
  if (encoding.encrypted && (options.identities ?? []).length === 0) throw new IdentityRequiredError(filePath);
  const decodes = encoding.encrypted || (options.decompress !== false && encoding.compression !== 'none');
  async function* decoded(): AsyncGenerator<Buffer> {
    yield* openDecodedStream(filePath, encoding, options) as AsyncIterable<Buffer>;
  }
  async function* stored(): AsyncGenerator<Buffer> {
    // Never through a symbolic link, as openDecodedStream.
    const file = await open(filePath, READ_NO_FOLLOW);
    try {
      for await (const chunk of readFileChunks(file)) {
        options.onStoredChunk?.(chunk);
        yield chunk;
      }
    } finally {
      await file.close();
    }
  }
  return decodes ? decoded() : stored();
}

/** True for an error that says the stored bytes are damaged: zlib (`Z_…`), zstd (`ZSTD_…`), or age beyond the key. */
export function isCorruptionError(error: unknown): error is Error {
  if (error instanceof AgeDecryptError) return error.failure !== 'no-match';
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('Z_') || code.startsWith('ZSTD_'));
}

/** Headers beyond this are not read for {@link findIdentityFor} (a real one is a few hundred bytes per recipient). */
const HEADER_READ_BYTES = 64 * 1024;

/**
 * The identity among `identities` that decrypts the encrypted file at `filePath`, found from its header alone (a
 * restore is refused before anything is sent). Throws `IdentityRequiredError` without identities, `AgeDecryptError`
 * ('no-match', 'header', 'hmac') otherwise.
 */
export async function findIdentityFor(
  filePath: string,
  identities: readonly AgeIdentity[] | undefined,
): Promise<AgeIdentity> {
  if (!identities?.length) throw new IdentityRequiredError(filePath);
  const file = await open(filePath, 'r');
  try {
    const head = Buffer.alloc(HEADER_READ_BYTES);
    const { bytesRead } = await file.read(head, 0, HEADER_READ_BYTES, 0);
    return findOpeningIdentity(head.subarray(0, bytesRead), identities);
  } finally {
    await file.close();
  }
}
