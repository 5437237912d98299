import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { ChunkBatcher } from '../../../src/lib/storage/chunk-batcher.ts';

/** Each chunk as the batcher pushed it ('data' events; an async iterator would join what is buffered). */
async function batch(chunks: Buffer[], batchBytes: number): Promise<Buffer[]> {
  const out: Buffer[] = [];
  const batcher = new ChunkBatcher(batchBytes);
  batcher.on('data', (piece: Buffer) => out.push(piece));
  await pipeline(Readable.from(chunks), batcher);
  return out;
}

describe('ChunkBatcher', () => {
  it('hands small chunks on in batches of at least the batch size, every byte in order, the rest at the end', async () => {
    const chunks = Array.from({ length: 37 }, (_, index) => randomBytes(1_000 + ((index * 7919) % 3_000)));
    const out = await batch(chunks, 10_000);
    expect(Buffer.concat(out).equals(Buffer.concat(chunks))).toBe(true);
    expect(out.length).toBeGreaterThan(1);
    for (const piece of out.slice(0, -1)) expect(piece.length).toBeGreaterThanOrEqual(10_000);
    // Never more than one batch plus the chunk that filled it.
    for (const piece of out) expect(piece.length).toBeLessThan(10_000 + 4_000);
  });

  it('passes a chunk as large as a batch on untouched when nothing is held', async () => {
    const big = randomBytes(20_000);
    const out = await batch([big, Buffer.from('tail')], 10_000);
    expect(out[0]).toBe(big);
    expect(out.map((piece) => piece.toString('latin1')).join('')).toBe(
      Buffer.concat([big, Buffer.from('tail')]).toString('latin1'),
    );
  });

  it('ends empty when nothing came, and gives a lone small chunk back at the end', async () => {
    expect(await batch([], 10_000)).toEqual([]);
    const out = await batch([Buffer.from('abc')], 10_000);
    expect(out.map(String)).toEqual(['abc']);
  });
});
