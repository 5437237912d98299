/**
 * The size of a backup file of `bytes` raw bytes as the store writes it (compressed exports, as in the bench): as is,
 * or as an age file to one X25519 recipient, whose header and payload nonce take 184 bytes and whose payload adds a
 * 16-byte tag per 64 KiB chunk (at least one chunk).
 */
export function expectedStoredBytes(bytes: number, encrypted: boolean): number {
  if (!encrypted) return bytes;
  const AGE_HEADER_AND_NONCE_BYTES = 184;
  return bytes + AGE_HEADER_AND_NONCE_BYTES + 16 * Math.max(1, Math.ceil(bytes / (64 * 1024)));
}
