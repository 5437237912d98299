import { randomBytes } from 'node:crypto';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gunzipSync, zstdDecompressSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { BatchedCompressor } from '../../../src/lib/storage/batched-compressor.ts';
import { createCompressor } from '../../../src/lib/storage/backup-encoding.ts';

const BATCH_BYTES = 10_000;

/** Chunks of uneven sizes, some larger than a batch, as an export's frames arrive. */
function unevenChunks(count: number): Buffer[] {
  return Array.from({ length: count }, (_, index) =>
    randomBytes(index % 11 === 5 ? 23_000 : 1_000 + ((index * 7919) % 3_000)),
  );
}

/**
 * A stand-in compressor that passes bytes through unchanged and records each write it is handed: the ArrayBuffer
 * behind it and a copy of its bytes (taken at once, as zlib reads them before calling back).
 */
function createRecordingCompressor(): {
  compressor: Transform;
  writes: Array<{ memory: ArrayBufferLike; bytes: Buffer }>;
} {
  const writes: Array<{ memory: ArrayBufferLike; bytes: Buffer }> = [];
  const compressor = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      writes.push({ memory: chunk.buffer, bytes: Buffer.from(chunk) });
      done(null, Buffer.from(chunk));
    },
  });
  return { compressor, writes };
}

async function collect(stage: BatchedCompressor, chunks: Buffer[]): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(chunks),
    stage,
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        out.push(chunk);
        done();
      },
    }),
  );
  return Buffer.concat(out);
}

describe('BatchedCompressor', () => {
  it.each(['gzip', 'zstd'] as const)('compresses every byte in order with %s', async (compression) => {
    const chunks = unevenChunks(200);
    const stored = await collect(new BatchedCompressor(createCompressor(compression)!, BATCH_BYTES), chunks);
    const decompressed = compression === 'gzip' ? gunzipSync(stored) : zstdDecompressSync(stored);
    expect(decompressed.equals(Buffer.concat(chunks))).toBe(true);
  });

  it('hands the compressor full batches, the rest at the end, in at most `buffers` reused buffers', async () => {
    const chunks = unevenChunks(200);
    const { compressor, writes } = createRecordingCompressor();
    const out = await collect(new BatchedCompressor(compressor, BATCH_BYTES, 3), chunks);
    const input = Buffer.concat(chunks);
    expect(out.equals(input)).toBe(true);
    expect(Buffer.concat(writes.map((write) => write.bytes)).equals(input)).toBe(true);
    expect(writes.length).toBe(Math.ceil(input.length / BATCH_BYTES));
    for (const write of writes.slice(0, -1)) expect(write.bytes.length).toBe(BATCH_BYTES);
    // No batch is a new allocation: three buffers serve every batch of the ~500 KB.
    expect(new Set(writes.map((write) => write.memory)).size).toBe(3);
  });

  it('stops accepting writes while the next stage takes nothing, and goes on when it reads', async () => {
    const { compressor } = createRecordingCompressor();
    const stage = new BatchedCompressor(compressor, BATCH_BYTES, 2);
    let accepted = 0;
    const chunk = randomBytes(1_000);
    for (let index = 0; index < 1_000; index += 1) stage.write(chunk, () => (accepted += chunk.length));
    for (let turn = 0; turn < 20; turn += 1) await new Promise(setImmediate);
    // The buffers, the compressor's and this stage's readable buffers and one write's worth: far from the 1 MB written.
    expect(accepted).toBeGreaterThan(0);
    expect(accepted).toBeLessThan(300_000);
    stage.end();
    let read = 0;
    for await (const piece of stage) read += (piece as Buffer).length;
    expect(read).toBe(1_000_000);
    expect(accepted).toBe(1_000_000);
  });

  it('ends with an empty stream when nothing came', async () => {
    const stored = await collect(new BatchedCompressor(createCompressor('zstd')!, BATCH_BYTES), []);
    expect(zstdDecompressSync(stored).length).toBe(0);
    const { compressor, writes } = createRecordingCompressor();
    expect((await collect(new BatchedCompressor(compressor, BATCH_BYTES), [])).length).toBe(0);
    expect(writes).toEqual([]);
  });

  it("fails with the compressor's error", async () => {
    const failing = new Transform({
      transform(_chunk, _encoding, done) {
        done(new Error('compressor broke'));
      },
    });
    await expect(collect(new BatchedCompressor(failing, BATCH_BYTES), unevenChunks(20))).rejects.toThrow(
      'compressor broke',
    );
  });
});
