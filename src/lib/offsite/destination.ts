import type { Readable } from 'node:stream';

/**
 * An off-site destination for backup copies (S3-compatible object storage today). The local `/backups` volume is
 * always written first; destinations receive a copy afterwards, and their failures never change the local backup's
 * status. Keys are `{prefix}/{workspaceId}/{deploymentName}/{fileName}` (see `objectKeyFor`).
 */
export interface OffsiteDestination {
  /** Configured name, stored on `BackupUpload.destination`, e.g. `s3`. */
  readonly name: string;
  /** The configured key prefix, normalised (no leading or trailing slash; `''` for none). Every key starts with it. */
  readonly keyPrefix: string;
  /** The object key for a backup file. Pure. */
  objectKeyFor(file: { workspaceId: string; deploymentName: string; fileName: string }): string;
  /**
   * Streams the local file up (multipart for large files), stores its sha256 as object metadata, and checks after the
   * upload that the stored object is the file (size and sha256). Rejects on any mismatch.
   */
  upload(input: {
    key: string;
    localPath: string;
    sha256: string;
    sizeBytes: bigint;
    signal?: AbortSignal;
    /** Called as parts are sent, with the bytes sent so far. */
    onProgress?: (bytesSent: number) => void;
  }): Promise<void>;
  /** Streams an object down. */
  download(key: string, signal?: AbortSignal): Promise<Readable>;
  /** Every object under a key prefix. */
  list(prefix: string): AsyncIterable<OffsiteObject>;
  /** Deletes an object; deleting a missing object is not an error. */
  delete(key: string): Promise<void>;
}

export interface OffsiteObject {
  key: string;
  sizeBytes: bigint;
  lastModified: Date;
  /** The sha256 stored as metadata at upload, when present. */
  sha256?: string;
}
