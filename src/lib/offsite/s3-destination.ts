import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { pipeline, Readable, Transform } from 'node:stream';
import { createRequire } from 'node:module';
import type * as ClientS3 from '@aws-sdk/client-s3';
import type * as LibStorage from '@aws-sdk/lib-storage';
import { redactSecrets } from '../shared/index.ts';
import type { OffsiteDestination, OffsiteObject } from './destination.ts';
import { buildObjectKey, normaliseKeyPrefix } from './object-key.ts';
import { OffsiteRequestError, OffsiteVerificationError } from './offsite-errors.ts';

/** S3's smallest part (all parts but the last) and its most parts per upload. */
export const MIN_PART_SIZE_BYTES = 5 * 1024 * 1024;
export const MAX_PARTS = 10_000;
/** Object metadata key of the sha256 (sent as the `x-amz-meta-sha256` header). */
export const SHA256_METADATA_KEY = 'sha256';

export interface S3DestinationSettings {
  /** Destination name stored on BackupUpload rows. */
  name: string;
  bucket: string;
  /** Key prefix; normalised here. */
  prefix: string;
  region: string;
  endpoint?: string;
  forcePathStyle: boolean;
  /** Unset: the AWS default credential chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Preferred part size (raised for huge files so they fit in 10,000 parts). Default 8 MiB. */
  partSizeBytes?: number;
  /** Parts in flight per upload; memory is about partSize × queueSize. Default 2. */
  queueSize?: number;
  /** Attempts per request by the SDK's own retry. Default 3. */
  maxAttempts?: number;
  /** Keys per ListObjectsV2 page. Default 1000 (S3's maximum). */
  listPageSize?: number;
}

const DEFAULT_PART_SIZE_BYTES = 8 * 1024 * 1024;
const DEFAULT_QUEUE_SIZE = 2;
const READ_CHUNK_BYTES = 1024 * 1024;

/**
 * The part size for a file: the preferred size, raised so the file fits in `MAX_PARTS` parts, never below S3's
 * 5 MiB minimum. Pure.
 */
export function choosePartSize(sizeBytes: bigint, preferredBytes: number = DEFAULT_PART_SIZE_BYTES): number {
  const needed = Number((sizeBytes + BigInt(MAX_PARTS) - 1n) / BigInt(MAX_PARTS));
  return Math.max(MIN_PART_SIZE_BYTES, preferredBytes, needed);
}

/**
 * An S3-compatible destination (AWS S3, MinIO, Garage, Backblaze B2). Uploads stream the local file through
 * lib-storage's multipart `Upload` (memory about partSize × queueSize, whatever the file size), hashing the bytes as
 * they are read, with the sha256 as object metadata; afterwards the object's size, metadata and ETag are checked with
 * a HeadObject. Checksums are computed only when an operation requires them: with the SDK's default, a streamed
 * body is sent aws-chunked, which some S3-compatible servers store verbatim (silently corrupt objects).
 */
/**
 * The AWS SDK, loaded on first use: it takes ~0.4 s to import, which every process without off-site copies (and
 * every CLI command that uploads nothing) would otherwise pay at start-up.
 */
let sdk: { s3: typeof ClientS3; storage: typeof LibStorage } | undefined;
function loadSdk(): { s3: typeof ClientS3; storage: typeof LibStorage } {
  const require = createRequire(import.meta.url);
  sdk ??= {
    s3: require('@aws-sdk/client-s3') as typeof ClientS3,
    storage: require('@aws-sdk/lib-storage') as typeof LibStorage,
  };
  return sdk;
}

export function createS3Destination(settings: S3DestinationSettings): OffsiteDestination {
  const {
    s3: {
      DeleteObjectCommand,
      GetObjectCommand,
      HeadObjectCommand,
      paginateListObjectsV2,
      S3Client,
      S3ServiceException,
    },
    storage: { Upload },
  } = loadSdk();
  const keyPrefix = normaliseKeyPrefix(settings.prefix);
  const client = new S3Client({
    region: settings.region,
    forcePathStyle: settings.forcePathStyle,
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    ...(settings.credentials ? { credentials: settings.credentials } : {}),
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: settings.maxAttempts ?? 3,
    // A dead server fails a request instead of hanging the upload pass; a download paused by its reader may idle.
    requestHandler: { connectionTimeout: 10_000, socketTimeout: 5 * 60_000 },
  });
  const bucket = settings.bucket;
  const secrets = settings.credentials ? [settings.credentials.secretAccessKey] : [];
  const fail = (operation: OffsiteRequestError['operation'], key: string, error: unknown): OffsiteRequestError =>
    new OffsiteRequestError(settings.name, operation, key, describeError(error, secrets), { cause: error });

  async function head(key: string) {
    try {
      return await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    } catch (error) {
      throw fail('head', key, error);
    }
  }

  async function remove(key: string): Promise<void> {
    try {
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    } catch (error) {
      if (error instanceof S3ServiceException && error.$metadata.httpStatusCode === 404 && error.name === 'NoSuchKey')
        return;
      throw fail('delete', key, error);
    }
  }

  return {
    name: settings.name,
    keyPrefix,
    objectKeyFor: (file) => buildObjectKey(keyPrefix, file),

    async upload({ key, localPath, sha256, sizeBytes, signal, onProgress }) {
      const mismatch = (field: OffsiteVerificationError['field'], expected: unknown, actual: unknown) =>
        new OffsiteVerificationError(settings.name, key, field, String(expected), String(actual));
      // O_NOFOLLOW: the file is ours; a symbolic link put in its place is not uploaded.
      const file = await open(localPath, constants.O_RDONLY | constants.O_NOFOLLOW);
      const sent = { bytes: 0n, hash: createHash('sha256') };
      let uploadedETag: string | undefined;
      try {
        const localSize = BigInt((await file.stat()).size);
        if (localSize !== sizeBytes) throw mismatch('local-size', sizeBytes, localSize);
        const hashing = new Transform({
          transform(chunk: Buffer, _encoding, callback) {
            sent.hash.update(chunk);
            sent.bytes += BigInt(chunk.length);
            callback(null, chunk);
          },
        });
        const body = pipeline(
          file.createReadStream({ highWaterMark: READ_CHUNK_BYTES, autoClose: false }),
          hashing,
          () => {},
        );
        const abort = new AbortController();
        const onAbort = () => abort.abort(signal?.reason);
        signal?.addEventListener('abort', onAbort, { once: true });
        const upload = new Upload({
          client,
          params: {
            Bucket: bucket,
            Key: key,
            Body: body,
            ContentType: 'application/octet-stream',
            Metadata: { [SHA256_METADATA_KEY]: sha256 },
          },
          partSize: choosePartSize(sizeBytes, settings.partSizeBytes),
          queueSize: settings.queueSize ?? DEFAULT_QUEUE_SIZE,
          leavePartsOnError: false,
          abortController: abort,
        });
        if (onProgress) upload.on('httpUploadProgress', (progress) => onProgress(progress.loaded ?? 0));
        try {
          if (signal?.aborted) throw signal.reason;
          uploadedETag = (await upload.done()).ETag;
        } catch (error) {
          body.destroy();
          throw fail('upload', key, error);
        } finally {
          signal?.removeEventListener('abort', onAbort);
        }
      } finally {
        await file.close();
      }
      // What was sent must be the backup (the file may have changed since it was recorded), and what is stored must
      // be what was sent. A copy that fails either check is removed: no bad object stays under the backup's key.
      const sentSha256 = sent.hash.digest('hex');
      let problem: OffsiteVerificationError | null =
        sent.bytes !== sizeBytes
          ? mismatch('local-size', sizeBytes, sent.bytes)
          : sentSha256 !== sha256
            ? mismatch('local-sha256', sha256, sentSha256)
            : null;
      if (!problem) {
        const stored = await head(key);
        const storedSha256 = stored.Metadata?.[SHA256_METADATA_KEY];
        problem =
          BigInt(stored.ContentLength ?? -1) !== sizeBytes
            ? mismatch('size', sizeBytes, stored.ContentLength)
            : storedSha256 !== sha256
              ? mismatch('sha256', sha256, storedSha256 ?? '(none)')
              : uploadedETag && stored.ETag && uploadedETag !== stored.ETag
                ? mismatch('etag', uploadedETag, stored.ETag)
                : null;
      }
      if (problem) {
        await remove(key).catch(() => {});
        throw problem;
      }
    },

    async download(key, signal) {
      try {
        const object = await client.send(
          new GetObjectCommand({ Bucket: bucket, Key: key }),
          signal ? { abortSignal: signal } : {},
        );
        if (!(object.Body instanceof Readable)) throw new Error('the response has no readable body');
        return object.Body;
      } catch (error) {
        throw fail('download', key, error);
      }
    },

    async *list(prefix): AsyncIterable<OffsiteObject> {
      try {
        for await (const page of paginateListObjectsV2(
          { client, pageSize: settings.listPageSize ?? 1_000 },
          { Bucket: bucket, Prefix: prefix },
        )) {
          for (const object of page.Contents ?? []) {
            if (!object.Key) continue;
            yield {
              key: object.Key,
              sizeBytes: BigInt(object.Size ?? 0),
              lastModified: object.LastModified ?? new Date(0),
            };
          }
        }
      } catch (error) {
        throw fail('list', prefix, error);
      }
    },

    delete: remove,
  };
}

/** A short, redacted description of an SDK or network error: name, HTTP status and message. */
function describeError(error: unknown, secrets: readonly string[]): string {
  if (sdk && error instanceof sdk.s3.S3ServiceException) {
    const status = error.$metadata.httpStatusCode;
    return redactSecrets(`${error.name}${status ? ` (HTTP ${status})` : ''}: ${error.message}`, secrets);
  }
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    return redactSecrets(`${code ? `${code}: ` : ''}${error.message || error.name}`, secrets);
  }
  return redactSecrets(String(error), secrets);
}
