import { Duplex, type Transform } from 'node:stream';

/**
 * How many bytes a compressor is handed at once. node:zlib runs each write as one job on the libuv thread pool and
 * comes back to the main thread for its output, so the size of a write sets how often that round trip is paid: the
 * export arrives in WebSocket frames of some 32 KiB, and batching them to 256 KiB halved the CPU of zstd and cut
 * gzip's by a fifth on a plain-SQL pgbench dump (1 MiB was no better and holds more memory).
 */
export const COMPRESSOR_BATCH_BYTES = 256 * 1024;

/** One batch being compressed, the next waiting behind it, a third filling meanwhile. */
export const COMPRESSOR_BATCH_BUFFERS = 3;

type WriteCallback = (error?: Error | null) => void;

/**
 * A compressing stage (raw bytes in, compressed bytes out) that copies the export's small chunks into batches of
 * `batchBytes` and hands each full batch to `compressor`, a node:zlib compressing stream.
 *
 * The batches live in `buffers` buffers allocated once and reused: a buffer is refilled only once the compressor has
 * consumed it (its write callback ran). So the compressor always has the next batch waiting while it works on the thread
 * pool, receiving goes on meanwhile in the third, and no batch becomes garbage: a new buffer per batch (a copy of every
 * byte of the export) made V8 run a full collection every few tens of MiB.
 *
 * Backpressure goes through the compressor: when the next stage takes no more, the compressor is paused, its own
 * buffer fills, it stops consuming batches, no buffer comes back, and this stage stops accepting writes.
 * Every byte reaches the compressor in order; the partial last batch goes with `end()`.
 */
export class BatchedCompressor extends Duplex {
  private readonly free: Buffer[] = [];
  private filling: Buffer | undefined;
  private filled = 0;
  /** A write that found no free buffer: what is left of its chunk, and its callback, held until a buffer returns. */
  private waiting: { chunk: Buffer; callback: WriteCallback } | undefined;

  constructor(
    private readonly compressor: Transform,
    batchBytes = COMPRESSOR_BATCH_BYTES,
    buffers = COMPRESSOR_BATCH_BUFFERS,
  ) {
    super();
    for (let index = 0; index < buffers; index += 1) this.free.push(Buffer.allocUnsafeSlow(batchBytes));
    compressor.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) compressor.pause();
    });
    compressor.once('end', () => this.push(null));
    compressor.once('error', (error: Error) => this.destroy(error));
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: WriteCallback): void {
    this.fill(chunk, callback);
  }

  override _final(callback: WriteCallback): void {
    if (this.filling && this.filled > 0) this.submit();
    this.compressor.end(callback);
  }

  override _read(): void {
    this.compressor.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.compressor.destroy();
    callback(error);
  }

  /** Copies `chunk` into batches, submitting each that fills; waits for a buffer when none is free. */
  private fill(chunk: Buffer, callback: WriteCallback): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (!this.filling) {
        const buffer = this.free.pop();
        if (!buffer) {
          this.waiting = { chunk: chunk.subarray(offset), callback };
          return;
        }
        this.filling = buffer;
        this.filled = 0;
      }
      const copied = chunk.copy(this.filling, this.filled, offset);
      this.filled += copied;
      offset += copied;
      if (this.filled === this.filling.length) this.submit();
    }
    callback();
  }

  private submit(): void {
    const buffer = this.filling!;
    this.filling = undefined;
    // A failed write also emits 'error' on the compressor, which destroys this stage: nothing to do here then.
    this.compressor.write(buffer.subarray(0, this.filled), (error) => {
      if (error || this.destroyed) return;
      this.free.push(buffer);
      const waiting = this.waiting;
      this.waiting = undefined;
      if (waiting) this.fill(waiting.chunk, waiting.callback);
    });
  }
}
