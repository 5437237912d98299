/**
 * Our age implementation against the standard `age` CLI (Debian package `age`), both ways: files we encrypt
 * decrypt with `age -d`, files `age` encrypts decrypt with ours, for payload sizes around the 64 KiB chunk
 * boundaries; keys made by `age-keygen` parse to the same recipient it prints.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, describe, expect, it } from 'vitest';
import {
  AgeDecryptError,
  AgeDecryptStream,
  AgeEncryptStream,
  type AgeIdentity,
  type AgeRecipient,
  generateIdentity,
  parseIdentityFile,
  parseRecipient,
} from '../../../src/lib/encryption/index.ts';

const CHUNK = 64 * 1024;
const SIZES = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 1024 * 1024 + 17];
const folder = mkdtempSync(path.join(tmpdir(), 'age-cli-'));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

function keygen(name: string): { file: string; recipient: string } {
  const file = path.join(folder, name);
  execFileSync('age-keygen', ['-o', file], { stdio: 'ignore' });
  return { file, recipient: execFileSync('age-keygen', ['-y', file], { encoding: 'utf8' }).trim() };
}

async function collect(source: Buffer, transform: Transform): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(Readable.from([source]), transform, async (chunks: AsyncIterable<Buffer>) => {
    for await (const chunk of chunks) out.push(chunk);
  });
  return Buffer.concat(out);
}

const encrypt = (plaintext: Buffer, recipients: AgeRecipient[]) => collect(plaintext, new AgeEncryptStream(recipients));
const decrypt = (file: Buffer, identities: AgeIdentity[]) => collect(file, new AgeDecryptStream(identities));

describe('age CLI interoperability', () => {
  const first = keygen('first.key');
  const second = keygen('second.key');
  const firstIdentities = parseIdentityFile(readFileSync(first.file, 'utf8'));

  it('reads age-keygen identity files to the recipient age-keygen -y prints', () => {
    expect(firstIdentities).toHaveLength(1);
    expect(firstIdentities[0]!.recipient.text).toBe(first.recipient);
    expect(parseRecipient(first.recipient).fingerprint).toBe(firstIdentities[0]!.recipient.fingerprint);
  });

  it.each(SIZES)('a %i-byte file we encrypt decrypts with age -d', async (size) => {
    const plaintext = randomBytes(size);
    const file = await encrypt(plaintext, [parseRecipient(first.recipient)]);
    const decrypted = execFileSync('age', ['-d', '-i', first.file], { input: file, maxBuffer: 64 * 1024 * 1024 });
    expect(decrypted.equals(plaintext)).toBe(true);
  });

  it.each(SIZES)('a %i-byte file age encrypts decrypts with ours', async (size) => {
    const plaintext = randomBytes(size);
    const file = execFileSync('age', ['-r', first.recipient], { input: plaintext, maxBuffer: 64 * 1024 * 1024 });
    expect((await decrypt(file, firstIdentities)).equals(plaintext)).toBe(true);
  });

  it('encrypts to several recipients, each of which decrypts with age -d; our keys work in the CLI', async () => {
    const ours = generateIdentity();
    const oursFile = path.join(folder, 'ours.key');
    writeFileSync(oursFile, `# made by generateIdentity\n${ours.text}\n`);
    const plaintext = randomBytes(200_000);
    const file = await encrypt(plaintext, [
      parseRecipient(first.recipient),
      parseRecipient(second.recipient),
      ours.identity.recipient,
    ]);
    for (const key of [first.file, second.file, oursFile]) {
      expect(
        execFileSync('age', ['-d', '-i', key], { input: file, maxBuffer: 8 * 1024 * 1024 }).equals(plaintext),
      ).toBe(true);
    }
    expect(execFileSync('age-keygen', ['-y', oursFile], { encoding: 'utf8' }).trim()).toBe(
      ours.identity.recipient.text,
    );
  });

  it('finds its identity among several in one file, and refuses a file for someone else', async () => {
    const both = parseIdentityFile(`${readFileSync(first.file, 'utf8')}\n${readFileSync(second.file, 'utf8')}`);
    const file = execFileSync('age', ['-r', second.recipient], { input: Buffer.from('for the second key') });
    expect((await decrypt(file, both)).toString()).toBe('for the second key');
    const refusal = await decrypt(file, firstIdentities).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(AgeDecryptError);
    expect((refusal as AgeDecryptError).failure).toBe('no-match');
  });

  it('refuses a file age -d also refuses: one flipped payload bit, a cut-off last chunk', async () => {
    const plaintext = randomBytes(3 * CHUNK + 5);
    const file = await encrypt(plaintext, [parseRecipient(first.recipient)]);
    const flipped = Buffer.from(file);
    flipped[flipped.length - 100]! ^= 1;
    const cut = file.subarray(0, file.length - 10);
    for (const damaged of [flipped, cut]) {
      expect(() =>
        execFileSync('age', ['-d', '-i', first.file], { input: damaged, stdio: ['pipe', 'pipe', 'ignore'] }),
      ).toThrow();
      const error = await decrypt(damaged, firstIdentities).catch((caught: unknown) => caught);
      expect((error as AgeDecryptError).failure).toBe('payload');
    }
  });
});
