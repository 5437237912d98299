/**
 * The C2SP CCTV age test vectors (tests/fixtures/age, see its README): every X25519, STREAM, header-MAC and CRLF
 * vector copied there decrypts exactly as the vector expects, with the failure at the expected stage, and the
 * plaintext released before a failure hashes to the vector's `payload`.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  AgeDecryptError,
  AgeDecryptStream,
  AgeEncryptStream,
  parseIdentity,
} from '../../../src/lib/encryption/index.ts';

const FIXTURES = path.join(import.meta.dirname, '../../fixtures/age');
const EXPECT_BY_FAILURE = {
  header: 'header failure',
  'no-match': 'no match',
  hmac: 'HMAC failure',
  payload: 'payload failure',
} as const;

interface Vector {
  name: string;
  expect: string;
  payload: string | undefined;
  identities: string[];
  fileKey: string | undefined;
  file: Buffer;
}

function readVector(name: string): Vector {
  const bytes = readFileSync(path.join(FIXTURES, name));
  const split = bytes.indexOf('\n\n');
  const fields = bytes.subarray(0, split).toString('utf8').split('\n');
  const values = (key: string) =>
    fields.filter((line) => line.startsWith(`${key}: `)).map((line) => line.slice(key.length + 2));
  const body = bytes.subarray(split + 2);
  return {
    name,
    expect: values('expect')[0]!,
    payload: values('payload')[0],
    identities: values('identity'),
    fileKey: values('file key')[0],
    file: values('compressed')[0] === 'zlib' ? inflateSync(body) : body,
  };
}

/** Decrypts through the stream, in small pieces (so chunk boundaries fall anywhere), keeping what was released. */
async function decrypt(vector: Vector): Promise<{ outcome: string; released: Buffer }> {
  const released: Buffer[] = [];
  const pieces = [];
  for (let offset = 0; offset < vector.file.length; offset += 4096)
    pieces.push(vector.file.subarray(offset, offset + 4096));
  try {
    await pipeline(
      Readable.from(pieces),
      new AgeDecryptStream(vector.identities.map((identity) => parseIdentity(identity))),
      async (chunks: AsyncIterable<Buffer>) => {
        for await (const chunk of chunks) released.push(chunk);
      },
    );
    return { outcome: 'success', released: Buffer.concat(released) };
  } catch (error) {
    if (!(error instanceof AgeDecryptError)) throw error;
    return { outcome: EXPECT_BY_FAILURE[error.failure], released: Buffer.concat(released) };
  }
}

const names = readdirSync(FIXTURES).filter((name) => name !== 'README.md');

describe('age CCTV vectors', () => {
  it('includes the X25519, STREAM and header vectors', () => {
    expect(names.filter((name) => name.startsWith('x25519')).length).toBeGreaterThanOrEqual(14);
    expect(names.filter((name) => name.startsWith('stream')).length).toBeGreaterThanOrEqual(28);
    // Failing vectors are most of them: the test proves refusals, not only successes.
    expect(names.map(readVector).filter((vector) => vector.expect !== 'success').length).toBeGreaterThan(30);
  });

  it.each(names)('%s', async (name) => {
    const vector = readVector(name);
    const { outcome, released } = await decrypt(vector);
    expect(outcome).toBe(vector.expect);
    if (vector.payload) expect(createHash('sha256').update(released).digest('hex')).toBe(vector.payload);
  });
});

describe('AgeEncryptStream against the vectors', () => {
  it('re-encrypts every successful vector payload to a file that decrypts to the same bytes', async () => {
    for (const name of names) {
      const vector = readVector(name);
      if (vector.expect !== 'success') continue;
      const { released } = await decrypt(vector);
      const identity = parseIdentity(vector.identities[0]!);
      const encrypted: Buffer[] = [];
      await pipeline(
        Readable.from([released]),
        new AgeEncryptStream([identity.recipient]),
        async (chunks: AsyncIterable<Buffer>) => {
          for await (const chunk of chunks) encrypted.push(chunk);
        },
      );
      const again = await decrypt({ ...vector, file: Buffer.concat(encrypted) });
      expect(again.outcome, name).toBe('success');
      expect(again.released.equals(released), name).toBe(true);
    }
  });
});
