import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import {
  createStagingBuffers,
  STAGING_BUFFER_BYTES,
  StagedInput,
  type StagingBuffers,
} from '../../../src/lib/storage/staged-input.ts';

/**
 * The entry of a backup writer's chain copies what it is given, so the export may read every piece of stdout into
 * the same memory. These tests write from one buffer that is scribbled over after every write (as the connection's
 * next read would), and keep what comes out by reference, as the file sink does until its batch is written.
 */

/** Writes `data` through `input` in pieces of `sizes` (cycled), each from the same reused buffer, honouring 'drain'. */
async function writeReusing(input: StagedInput, data: Buffer, sizes: number[]): Promise<void> {
  const reused = Buffer.alloc(Math.max(...sizes));
  let offset = 0;
  let index = 0;
  while (offset < data.length) {
    const size = Math.min(sizes[index % sizes.length]!, data.length - offset);
    index += 1;
    data.copy(reused, 0, offset, offset + size);
    const more = input.write(reused.subarray(0, size));
    reused.fill(0xee);
    offset += size;
    if (!more) await new Promise((resolve) => input.once('drain', resolve));
  }
  input.end();
}

/** A sink that keeps every chunk by reference and gives it back to `buffers` only at the end, or never. */
function keepingSink(giveBackAtEnd?: StagingBuffers): { stream: Writable; chunks: Buffer[] } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk);
      setImmediate(done);
    },
    final(done) {
      if (giveBackAtEnd) for (const chunk of chunks) giveBackAtEnd.give(chunk);
      done();
    },
  });
  return { stream, chunks };
}

describe('StagedInput', () => {
  it('copies each chunk before write() returns, and passes the bytes on in staging buffers, the last partly filled', async () => {
    const data = randomBytes(3 * STAGING_BUFFER_BYTES + 12_345);
    const input = new StagedInput(createStagingBuffers());
    const sink = keepingSink();
    // Sizes that cross staging buffers' ends anywhere: a TLS record, odd sizes, one larger than a staging buffer.
    await Promise.all([
      writeReusing(input, data, [16_384, 1, 7_000, STAGING_BUFFER_BYTES + 3, 65_536]),
      pipeline(input, sink.stream),
    ]);
    expect(Buffer.concat(sink.chunks).equals(data)).toBe(true);
    expect(sink.chunks.map((chunk) => chunk.length)).toEqual([
      STAGING_BUFFER_BYTES,
      STAGING_BUFFER_BYTES,
      STAGING_BUFFER_BYTES,
      12_345,
    ]);
    expect(input.bytes).toBe(data.length);
  });

  it('reuses only the staging buffers given back, and never one that is still held', async () => {
    const buffers = createStagingBuffers();
    const data = randomBytes(40 * STAGING_BUFFER_BYTES);
    // First a sink that gives nothing back until the end: every staging buffer is new.
    const first = new StagedInput(buffers);
    const holding = keepingSink(buffers);
    await Promise.all([writeReusing(first, data, [16_384]), pipeline(first, holding.stream)]);
    expect(Buffer.concat(holding.chunks).equals(data)).toBe(true);
    expect(buffers.allocations).toBe(40);
    expect(new Set(holding.chunks.map((chunk) => chunk.buffer)).size).toBe(40);

    // Then a sink that gives each back once it has used it: a handful serve 40 more.
    const second = new StagedInput(buffers);
    const received: Buffer[] = [];
    const givingBack = new Writable({
      write(chunk: Buffer, _encoding, done) {
        setImmediate(() => {
          received.push(Buffer.from(chunk));
          buffers.give(chunk);
          done();
        });
      },
    });
    await Promise.all([writeReusing(second, data, [16_384]), pipeline(second, givingBack)]);
    expect(Buffer.concat(received).equals(data)).toBe(true);
    expect(buffers.allocations).toBe(40);
  });

  it('asks the writer to wait once two staging buffers are on their way, and still takes what comes meanwhile, in order', async () => {
    const input = new StagedInput(createStagingBuffers());
    const piece = (value: number) => Buffer.alloc(STAGING_BUFFER_BYTES, value);
    expect(input.write(piece(1))).toBe(true);
    // Nothing reads yet: the second full buffer makes two in the stream.
    expect(input.write(piece(2))).toBe(false);
    // A straggler (a read decrypted before the connection paused) is taken all the same.
    expect(input.write(Buffer.from('late'))).toBe(false);
    const sink = keepingSink();
    const drained = new Promise((resolve) => input.once('drain', resolve));
    const flowing = pipeline(input, sink.stream);
    await drained;
    input.end(Buffer.from('!'));
    await flowing;
    expect(Buffer.concat(sink.chunks).equals(Buffer.concat([piece(1), piece(2), Buffer.from('late!')]))).toBe(true);
  });

  it('calls write callbacks, takes strings, passes nothing for an empty stream, and refuses writes after end', async () => {
    const input = new StagedInput(createStagingBuffers());
    const sink = keepingSink();
    const flowing = pipeline(input, sink.stream);
    const calledBack = new Promise<unknown>((resolve) => input.write('text', 'utf8', resolve));
    expect(await calledBack).toBeNull();
    input.end();
    await flowing;
    expect(Buffer.concat(sink.chunks).toString()).toBe('text');
    const refused = new Promise<Error>((resolve) =>
      input.write(Buffer.from('after'), (error?: Error | null) => resolve(error!)),
    );
    expect((await refused).message).toMatch(/write after end/);

    const empty = new StagedInput(createStagingBuffers());
    const nothing = keepingSink();
    empty.end();
    await pipeline(empty, nothing.stream);
    expect(nothing.chunks).toEqual([]);
  });
});

describe('createStagingBuffers', () => {
  it('takes back only buffers it lent, each once', () => {
    const buffers = createStagingBuffers();
    const first = buffers.take();
    expect(first.length).toBe(STAGING_BUFFER_BYTES);
    buffers.give(Buffer.alloc(STAGING_BUFFER_BYTES));
    buffers.give(first.subarray(10, 20));
    // Given back twice: lent once more, not twice.
    buffers.give(first);
    const again = buffers.take();
    const other = buffers.take();
    expect(again.buffer).toBe(first.buffer);
    expect(other.buffer).not.toBe(first.buffer);
    expect(buffers.allocations).toBe(2);
  });
});
