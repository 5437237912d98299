import type { FileHandle } from 'node:fs/promises';

/** 256 KiB: the size of the stdin frames a restore sends, and few enough reads per GiB (4096). */
export const FILE_CHUNK_BYTES = 256 * 1024;

/**
 * The bytes of an open file from its current position to its end, read into one buffer that every chunk reuses: a
 * chunk is valid only until the next is asked for, so a consumer that keeps one must copy it.
 *
 * A ReadStream allocates a new buffer for every read instead, and Node frees buffers only when V8 runs a mark-compact,
 * which it starts after some tens of MiB of them: hashing or streaming a 1 GiB backup that way cost dozens of full
 * collections of a heap that holds client-node's API models. Reading into the same buffer leaves no garbage.
 */
export async function* readFileChunks(file: FileHandle, chunkBytes = FILE_CHUNK_BYTES): AsyncGenerator<Buffer> {
  const buffer = Buffer.allocUnsafe(chunkBytes);
  for (;;) {
    const { bytesRead } = await file.read(buffer, 0, chunkBytes, null);
    if (bytesRead === 0) return;
    yield buffer.subarray(0, bytesRead);
  }
}
