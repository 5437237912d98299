import type { FileHandle } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  FILE_FLUSH_INTERVAL_BYTES,
  FILE_WRITE_BATCH_BYTES,
  createFileSink,
} from '../../../src/lib/storage/backup-store.ts';

// The store's default file sink against an in-memory file handle: batching, background fdatasync, and its failures.

const CHUNK_BYTES = 64 * 1024;

/** Records what the sink does with the handle; `datasync` settles only when the test says so. */
function createRecordingFile() {
  const written: number[] = [];
  const syncs: { writtenBefore: number; settle: (error?: Error) => void }[] = [];
  let writtenBytes = 0;
  const file = {
    async writev(buffers: Buffer[]) {
      const bytesWritten = buffers.reduce((sum, buffer) => sum + buffer.length, 0);
      writtenBytes += bytesWritten;
      written.push(bytesWritten);
      return { bytesWritten, buffers };
    },
    datasync() {
      return new Promise<void>((resolve, reject) => {
        syncs.push({ writtenBefore: writtenBytes, settle: (error) => (error ? reject(error) : resolve()) });
      });
    },
  };
  return { file: file as unknown as FileHandle, written, syncs, writtenBytes: () => writtenBytes };
}

/** Writes `bytes` in chunks of CHUNK_BYTES, honouring backpressure; resolves once all were accepted. */
async function writeBytes(sink: Writable, bytes: number): Promise<void> {
  const chunk = Buffer.alloc(CHUNK_BYTES, 7);
  for (let sent = 0; sent < bytes; sent += CHUNK_BYTES) {
    if (!sink.write(chunk)) await new Promise((resolve) => sink.once('drain', resolve));
  }
}

async function waitFor(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 1));
}

const finished = (sink: Writable) =>
  new Promise<void>((resolve, reject) => {
    sink.once('finish', resolve);
    sink.once('error', reject);
  });

describe('createFileSink', () => {
  it('writes in batches and starts one fdatasync per FILE_FLUSH_INTERVAL_BYTES without waiting for it', async () => {
    const recording = createRecordingFile();
    const sink = createFileSink(recording.file);

    await writeBytes(sink, 3 * FILE_FLUSH_INTERVAL_BYTES);

    // The first fdatasync never settled, yet writing went on; no second one started meanwhile.
    expect(recording.writtenBytes()).toBeGreaterThanOrEqual(3 * FILE_FLUSH_INTERVAL_BYTES - 2 * FILE_WRITE_BATCH_BYTES);
    expect(recording.syncs).toHaveLength(1);
    expect(recording.syncs[0]!.writtenBefore).toBe(FILE_FLUSH_INTERVAL_BYTES);
    expect(Math.max(...recording.written)).toBeLessThanOrEqual(FILE_WRITE_BATCH_BYTES + CHUNK_BYTES);
    recording.syncs[0]!.settle();
    await writeBytes(sink, FILE_FLUSH_INTERVAL_BYTES);
    expect(recording.syncs).toHaveLength(2);
    recording.syncs[1]!.settle();
    const done = finished(sink);
    sink.end();
    await done;
    expect(recording.writtenBytes()).toBe(4 * FILE_FLUSH_INTERVAL_BYTES);
  });

  it('finishes only once the fdatasync in progress is done', async () => {
    const recording = createRecordingFile();
    const sink = createFileSink(recording.file);
    await writeBytes(sink, FILE_FLUSH_INTERVAL_BYTES + CHUNK_BYTES);
    let done = false;
    const ending = finished(sink).then(() => {
      done = true;
    });
    sink.end();
    await new Promise((resolve) => setTimeout(resolve, 20));

    expect(recording.syncs).toHaveLength(1);
    expect(done).toBe(false);
    recording.syncs[0]!.settle();
    await ending;
    expect(recording.writtenBytes()).toBe(FILE_FLUSH_INTERVAL_BYTES + CHUNK_BYTES);
  });

  it('fails the stream with the error of a failed fdatasync', async () => {
    const recording = createRecordingFile();
    const sink = createFileSink(recording.file);
    const failure = Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
    const errored = new Promise<unknown>((resolve) => sink.once('error', resolve));
    await writeBytes(sink, FILE_FLUSH_INTERVAL_BYTES + FILE_WRITE_BATCH_BYTES);
    await waitFor(() => recording.syncs.length === 1);
    recording.syncs[0]!.settle(failure);
    await new Promise((resolve) => setImmediate(resolve));

    sink.write(Buffer.alloc(CHUNK_BYTES));

    expect(await errored).toBe(failure);
  });

  it('fails at the end when the last fdatasync fails', async () => {
    const recording = createRecordingFile();
    const sink = createFileSink(recording.file);
    const failure = Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
    await writeBytes(sink, FILE_FLUSH_INTERVAL_BYTES);
    const ending = finished(sink).then(
      () => undefined,
      (error: unknown) => error,
    );
    sink.end();
    await new Promise((resolve) => setTimeout(resolve, 20));
    recording.syncs[0]!.settle(failure);

    expect(await ending).toBe(failure);
  });
});
