import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { type BackupManifest, ignoreCode, manifestPathFor, parseManifest } from '../storage/index.ts';
import type { OffsiteDestination } from './destination.ts';

/**
 * A backup's manifest travels with its off-site copy as `{objectKey}.json`, so the bucket alone says what each object
 * is (`backup -- reindex --from-offsite`, `audit`). It is uploaded after the file and deleted with it.
 */

/** The object key of the manifest of the backup stored at `objectKey`. */
export function manifestKeyFor(objectKey: string): string {
  return manifestPathFor(objectKey);
}

/**
 * Uploads the manifest beside `localPath` to `{objectKey}.json`, verified like any upload (size and sha256). Returns
 * false when the backup has no manifest (made before manifests existed): nothing to upload.
 */
export async function uploadManifest(
  destination: OffsiteDestination,
  input: { objectKey: string; localPath: string; signal?: AbortSignal | undefined },
): Promise<boolean> {
  const localPath = manifestPathFor(input.localPath);
  const bytes = await readFile(localPath).catch(ignoreCode('ENOENT'));
  if (bytes === undefined) return false;
  await destination.upload({
    key: manifestKeyFor(input.objectKey),
    localPath,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    sizeBytes: BigInt(bytes.length),
    ...(input.signal ? { signal: input.signal } : {}),
  });
  return true;
}

/** Reads a manifest object; throws `InvalidManifestError` when it is not one. */
export async function downloadManifest(
  destination: OffsiteDestination,
  manifestKey: string,
  signal?: AbortSignal,
): Promise<BackupManifest> {
  const stream = await destination.download(manifestKey, signal);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    size += chunk.length;
    // A manifest is a few hundred bytes: anything large is not one, and is not read into memory.
    if (size > MAX_MANIFEST_BYTES) {
      stream.destroy();
      return parseManifest('', `${destination.name}:${manifestKey} (larger than ${MAX_MANIFEST_BYTES} bytes)`);
    }
    chunks.push(chunk);
  }
  return parseManifest(Buffer.concat(chunks).toString('utf8'), `${destination.name}:${manifestKey}`);
}

const MAX_MANIFEST_BYTES = 64 * 1024;
