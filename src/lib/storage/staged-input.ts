import { Transform, type TransformCallback } from 'node:stream';

/** The size of a staging buffer: one write of the file sink (its batch, `FILE_WRITE_BATCH_BYTES`). */
export const STAGING_BUFFER_BYTES = 256 * 1024;

/**
 * Staging buffers lent out and given back. A buffer is lent by `take` and may be given back once, by whoever
 * holds the last reference to its bytes; `give` ignores any other buffer (one it did not lend, or one given back
 * already), so a buffer can never be lent twice at once. At most `maxSpare` are kept.
 */
export interface StagingBuffers {
  /** A buffer of {@link STAGING_BUFFER_BYTES}, contents undefined. */
  take(): Buffer;
  /** Gives back the buffer that `bytes` (the buffer or a view of it) belongs to; its bytes must no longer be needed. */
  give(bytes: Buffer): void;
  /** How many buffers were allocated so far (for tests and benchmarks). */
  readonly allocations: number;
}

export function createStagingBuffers(maxSpare = 8): StagingBuffers {
  const spare: Buffer[] = [];
  const lent = new Set<ArrayBufferLike>();
  let allocations = 0;
  return {
    take() {
      // Slow: a buffer of its own (never a slice of Node's shared pool), so that its ArrayBuffer names it.
      const buffer = spare.pop() ?? (allocations++, Buffer.allocUnsafeSlow(STAGING_BUFFER_BYTES));
      lent.add(buffer.buffer);
      return buffer;
    },
    give(bytes) {
      if (!lent.delete(bytes.buffer)) return;
      if (spare.length < maxSpare) spare.push(Buffer.from(bytes.buffer, 0, STAGING_BUFFER_BYTES));
    },
    get allocations() {
      return allocations;
    },
  };
}

/**
 * The entry of a backup writer's chain. `write()` copies each chunk into a staging buffer before it returns, so the
 * caller may reuse the chunk's memory at once (the exec's connection reads every TLS record into the same buffer);
 * each staging buffer goes down the chain when full (and the last, partly filled, at the end), as one chunk of
 * {@link STAGING_BUFFER_BYTES}. Who holds the last reference to one gives it back to `buffers` (the file sink, once it
 * has written it); one never given back is garbage like any buffer.
 *
 * It counts the bytes it accepted. `write()` returns false while the chain holds as many bytes as it should (the
 * caller waits for 'drain'), also when the chunk only went into the staging buffer: bytes written anyway (a
 * connection's reads that were decrypted before it was paused) are taken all the same.
 */
export class StagedInput extends Transform {
  /** Bytes accepted by `write()`. */
  bytes = 0;
  private staging: Buffer | undefined;
  private filled = 0;

  constructor(private readonly buffers: StagingBuffers) {
    // Room for one staging buffer on its way and one more: the next fills while the chain takes the first.
    super({ writableHighWaterMark: 2 * STAGING_BUFFER_BYTES, readableHighWaterMark: STAGING_BUFFER_BYTES });
  }

  override write(chunk: unknown, encoding?: unknown, callback?: unknown): boolean {
    const done = (typeof encoding === 'function' ? encoding : callback) as ((error?: Error | null) => void) | undefined;
    const bytes = toBuffer(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : undefined);
    // Nothing to stage (or no longer accepting): Writable's own write reports the error, or passes the empty chunk.
    if (!bytes || bytes.length === 0 || this.destroyed || this.writableEnded || this.writableFinished)
      return super.write(chunk, encoding as BufferEncoding, done);
    this.bytes += bytes.length;
    let offset = 0;
    let handedOver = false;
    while (offset < bytes.length) {
      this.staging ??= this.buffers.take();
      const copied = bytes.copy(this.staging, this.filled, offset);
      this.filled += copied;
      offset += copied;
      if (this.filled === this.staging.length) {
        const full = this.staging;
        this.staging = undefined;
        this.filled = 0;
        // The callback goes with the last staging buffer this chunk filled.
        handedOver = offset === bytes.length;
        super.write(full, handedOver ? done : undefined);
      }
    }
    if (!handedOver && done) process.nextTick(done, null);
    return !this.writableNeedDrain;
  }

  /** Writable's own `end(chunk)` would queue the chunk ahead of the staged bytes: it goes through `write` here. */
  override end(chunk?: unknown, encoding?: unknown, callback?: unknown): this {
    if (typeof chunk === 'function') return super.end(chunk as () => void);
    if (typeof encoding === 'function') [encoding, callback] = [undefined, encoding];
    if (chunk !== undefined && chunk !== null) this.write(chunk, encoding as BufferEncoding);
    return super.end(callback as (() => void) | undefined);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    const last = this.staging;
    this.staging = undefined;
    if (last && this.filled > 0) return callback(null, last.subarray(0, this.filled));
    if (last) this.buffers.give(last);
    callback();
  }
}

function toBuffer(chunk: unknown, encoding: BufferEncoding | undefined): Buffer | undefined {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  if (typeof chunk === 'string') return Buffer.from(chunk, encoding);
  return undefined;
}
