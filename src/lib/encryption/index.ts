export { AgeDecryptError, type AgeDecryptFailure, AgeKeyError } from './age-errors.ts';
export {
  type AgeIdentity,
  type AgeRecipient,
  generateIdentity,
  keyFingerprint,
  parseIdentity,
  parseIdentityFile,
  parseRecipient,
  parseRecipientList,
} from './age-keys.ts';
export { AgeDecryptStream, AgeEncryptStream, CHUNK_BYTES } from './age-stream.ts';
export { findOpeningIdentity } from './age-header.ts';
