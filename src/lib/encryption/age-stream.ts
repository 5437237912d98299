/**
 * The age payload as Node streams (https://age-encryption.org/v1, "Payload"): after the header, a 16-byte random
 * nonce, then the plaintext in chunks of 64 KiB, each sealed with ChaCha20-Poly1305 under
 * HKDF-SHA256(ikm = file key, salt = nonce, info = "payload"). A chunk's 12-byte nonce is its index as an 11-byte
 * big-endian counter followed by 0x01 for the last chunk, 0x00 otherwise. Only the last chunk may be shorter than
 * 64 KiB; it may be empty only when the whole payload is.
 *
 * Both directions are Transforms with constant memory (one chunk held at a time): `AgeEncryptStream` holds a full
 * chunk back until it knows whether more follows; `AgeDecryptStream` releases a chunk's plaintext only once it is
 * authenticated with the right last-chunk flag, so truncation, reordering, trailing data or a flipped bit all end in
 * `AgeDecryptError('payload')` and nothing unauthenticated ever leaves it.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { AgeDecryptError } from './age-errors.ts';
import { createHeader, openHeader, parseHeader } from './age-header.ts';
import type { AgeIdentity, AgeRecipient } from './age-keys.ts';

export const CHUNK_BYTES = 64 * 1024;
const TAG_BYTES = 16;
const SEALED_CHUNK_BYTES = CHUNK_BYTES + TAG_BYTES;
const PAYLOAD_NONCE_BYTES = 16;
/** A header larger than this is refused (real ones are a few hundred bytes per recipient). */
const MAX_HEADER_BYTES = 1024 * 1024;
/** 2^88 chunks would overflow the counter; 2^53 is far beyond any file and keeps the counter a safe integer. */
const MAX_CHUNKS = Number.MAX_SAFE_INTEGER;

function payloadKey(fileKey: Buffer, nonce: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', fileKey, nonce, 'payload', 32));
}

function chunkNonce(counter: number, last: boolean): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeUIntBE(Math.floor(counter / 2 ** 40), 0, 6);
  nonce.writeUIntBE(counter % 2 ** 40, 6, 5);
  nonce[11] = last ? 1 : 0;
  return nonce;
}

/**
 * One sealed chunk as its ciphertext and its tag, which follow each other in the file. Not joined: a copy would
 * allocate a second 64 KiB buffer per chunk, garbage that raised the backup's peak memory by about 20 MiB.
 */
function seal(key: Buffer, counter: number, last: boolean, plaintext: Buffer): [Buffer, Buffer] {
  const cipher = createCipheriv('chacha20-poly1305', key, chunkNonce(counter, last), { authTagLength: TAG_BYTES });
  const ciphertext = cipher.update(plaintext);
  cipher.final();
  return [ciphertext, cipher.getAuthTag()];
}

function open(key: Buffer, counter: number, last: boolean, sealed: Buffer): Buffer | null {
  const decipher = createDecipheriv('chacha20-poly1305', key, chunkNonce(counter, last), { authTagLength: TAG_BYTES });
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  const plaintext = decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES));
  try {
    decipher.final();
    return plaintext;
  } catch {
    return null;
  }
}

/** Encrypts everything written to it to `recipients`; what it emits is a complete age file. */
export class AgeEncryptStream extends Transform {
  private readonly key: Buffer;
  private readonly pending = Buffer.allocUnsafe(CHUNK_BYTES);
  private filled = 0;
  private counter = 0;

  constructor(recipients: readonly AgeRecipient[]) {
    super();
    const { header, fileKey } = createHeader(recipients);
    const nonce = randomBytes(PAYLOAD_NONCE_BYTES);
    this.key = payloadKey(fileKey, nonce);
    this.push(Buffer.concat([header, nonce]));
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    let offset = 0;
    while (offset < chunk.length) {
      // A full chunk is sealed only once a further byte proves it is not the last.
      if (this.filled === CHUNK_BYTES) this.sealPending(false);
      const copied = chunk.copy(this.pending, this.filled, offset);
      this.filled += copied;
      offset += copied;
    }
    callback();
  }

  override _flush(callback: TransformCallback): void {
    this.sealPending(true);
    callback();
  }

  private sealPending(last: boolean): void {
    if (this.counter >= MAX_CHUNKS) throw new Error('age: too many chunks');
    const [ciphertext, tag] = seal(this.key, this.counter, last, this.pending.subarray(0, this.filled));
    if (ciphertext.length > 0) this.push(ciphertext);
    this.push(tag);
    this.counter += 1;
    this.filled = 0;
  }
}

/**
 * Decrypts an age file written to it with the first of `identities` that opens it, emitting the plaintext. Fails
 * with `AgeDecryptError` ('header', 'no-match', 'hmac' or 'payload').
 */
export class AgeDecryptStream extends Transform {
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  private key: Buffer | null = null;
  private counter = 0;
  private finished = false;

  constructor(private readonly identities: readonly AgeIdentity[]) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.buffered.push(chunk);
      this.bufferedBytes += chunk.length;
      if (!this.key) this.readHeader(false);
      // A whole sealed chunk plus one byte proves the chunk is not the last one.
      while (this.key && this.bufferedBytes > SEALED_CHUNK_BYTES)
        this.openChunk(this.takeBytes(SEALED_CHUNK_BYTES), false);
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      if (!this.key) this.readHeader(true);
      if (this.bufferedBytes === 0 && this.counter === 0)
        throw new AgeDecryptError('payload', 'the payload has no chunk');
      if (this.bufferedBytes > 0) this.openChunk(this.takeBytes(this.bufferedBytes), true);
      if (!this.finished) throw new AgeDecryptError('payload', 'the file ends before its last chunk (truncated)');
      callback();
    } catch (error) {
      this.failAfterReleased(error as Error, callback);
    }
  }

  /**
   * Fails once the plaintext already pushed has been read: an error ends a stream at once, dropping what is still
   * buffered, yet chunks that authenticated before the failure are released (the age test vectors' rule).
   */
  private failAfterReleased(error: Error, callback: TransformCallback): void {
    const check = () => {
      if (this.readableLength === 0 || this.destroyed) callback(error);
      else this.once('data', () => setImmediate(check));
    };
    check();
  }

  private readHeader(atEnd: boolean): void {
    const bytes = this.takeBytes(this.bufferedBytes);
    const parsed = parseHeader(bytes);
    if (!parsed || bytes.length < parsed.length + PAYLOAD_NONCE_BYTES) {
      if (atEnd) throw new AgeDecryptError('header', 'the file ends inside the header or the payload nonce');
      if (bytes.length > MAX_HEADER_BYTES) throw new AgeDecryptError('header', 'the header is too large');
      this.buffered = [bytes];
      this.bufferedBytes = bytes.length;
      return;
    }
    const fileKey = openHeader(parsed.header, this.identities);
    const nonce = bytes.subarray(parsed.length, parsed.length + PAYLOAD_NONCE_BYTES);
    this.key = payloadKey(fileKey, nonce);
    const rest = bytes.subarray(parsed.length + PAYLOAD_NONCE_BYTES);
    this.buffered = rest.length > 0 ? [rest] : [];
    this.bufferedBytes = rest.length;
  }

  /**
   * Opens the next chunk. `atEnd`: nothing follows it. A full-size chunk is also tried with the other last-chunk flag,
   * as the reference implementation does, so that a final chunk followed by data, or a file cut after a non-final
   * chunk, releases the chunks that did authenticate and then fails.
   */
  private openChunk(sealed: Buffer, atEnd: boolean): void {
    if (this.finished) throw new AgeDecryptError('payload', 'data follows the last chunk');
    if (sealed.length < TAG_BYTES)
      throw new AgeDecryptError('payload', `chunk ${this.counter} is shorter than its tag`);
    const key = this.key!;
    let last = atEnd;
    let plaintext = open(key, this.counter, last, sealed);
    if (!plaintext && sealed.length === SEALED_CHUNK_BYTES) {
      last = !atEnd;
      plaintext = open(key, this.counter, last, sealed);
    }
    if (!plaintext)
      throw new AgeDecryptError('payload', `chunk ${this.counter} does not authenticate (damaged or cut short)`);
    if (last && plaintext.length === 0 && this.counter > 0)
      throw new AgeDecryptError('payload', 'the last chunk is empty but the payload is not');
    this.counter += 1;
    this.finished = last;
    if (plaintext.length > 0) this.push(plaintext);
    if (atEnd && !last)
      throw new AgeDecryptError('payload', 'the file ends after a chunk that is not the last (truncated)');
  }

  /** Removes and returns the first `count` buffered bytes (one copy at most). */
  private takeBytes(count: number): Buffer {
    const joined = this.buffered.length === 1 ? this.buffered[0]! : Buffer.concat(this.buffered, this.bufferedBytes);
    const taken = joined.subarray(0, count);
    const rest = joined.subarray(count);
    this.buffered = rest.length > 0 ? [rest] : [];
    this.bufferedBytes = rest.length;
    return taken;
  }
}
