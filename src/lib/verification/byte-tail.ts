/**
 * The last bytes of a stream of any length, in bounded memory: chunks are kept only while they can still be part of
 * the last `capacity` bytes. Used to read the end of a dump (its trailer, its checksum) while streaming it.
 */
export class ByteTail {
  private chunks: Buffer[] = [];
  private length = 0;
  /** Bytes seen in total. */
  total = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError(`ByteTail: capacity must be a whole number >= 1 (got ${capacity})`);
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.length += chunk.length;
    this.total += chunk.length;
    while (this.chunks.length > 1 && this.length - (this.chunks[0] as Buffer).length >= this.capacity) {
      this.length -= (this.chunks.shift() as Buffer).length;
    }
  }

  /** The last `capacity` bytes (fewer when the stream was shorter), and whether that is the whole stream. */
  read(): { bytes: Buffer; wholeStream: boolean } {
    const joined = Buffer.concat(this.chunks, this.length);
    const bytes = joined.length > this.capacity ? joined.subarray(joined.length - this.capacity) : joined;
    return { bytes, wholeStream: bytes.length === this.total };
  }
}
