export type { OffsiteDestination } from './destination.ts';
export { fetchOffsiteCopy } from './fetch-copy.ts';
export { FetchedCopyMismatchError, FetchRefusedError } from './fetch-errors.ts';
export { normaliseKeyPrefix } from './object-key.ts';
export { OffsiteRequestError } from './offsite-errors.ts';
export { findOffsiteOrphans } from './offsite-orphans.ts';
export { createS3Destination } from './s3-destination.ts';
export { runUploadPass } from './upload-pass.ts';
export { requeueUploads } from './upload-records.ts';
