import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';

/** Destinations for data-export tests: each stands for one way the storage layer can behave. */

/** Keeps everything it receives. */
export function collectingDestination(): { stream: Writable; data(): Buffer } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk);
      done();
    },
  });
  return { stream, data: () => Buffer.concat(chunks) };
}

/** Accepts `limitBytes`, then fails the next write with `error` (a full disk, a broken upload). */
export function failingDestination(limitBytes: number, error: Error): { stream: Writable; accepted(): number } {
  let accepted = 0;
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      if (accepted >= limitBytes) return done(error);
      accepted += chunk.length;
      done();
    },
  });
  return { stream, accepted: () => accepted };
}

/**
 * A slow disk: a small buffer (`highWaterMark`) and each write completing only after `delayMs`. Hashes what it
 * accepted, and calls `beforeWrite` with the bytes accepted so far each time a write starts.
 */
export function slowDestination(options: {
  highWaterMark: number;
  delayMs: number;
  beforeWrite(acceptedBytes: number): void;
}): {
  stream: Writable;
  accepted(): number;
  sha256(): string;
} {
  const hash = createHash('sha256');
  let accepted = 0;
  const stream = new Writable({
    highWaterMark: options.highWaterMark,
    write(chunk: Buffer, _encoding, done) {
      options.beforeWrite(accepted);
      setTimeout(() => {
        hash.update(chunk);
        accepted += chunk.length;
        done();
      }, options.delayMs);
    },
  });
  return { stream, accepted: () => accepted, sha256: () => hash.copy().digest('hex') };
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
