/**
 * The age v1 header (https://age-encryption.org/v1, "Header"), written and read exactly as the specification says:
 *
 *     age-encryption.org/v1
 *     -> X25519 <base64 ephemeral share>
 *     <base64 wrapped file key, 64 columns per line, the last line shorter (possibly empty)>
 *     --- <base64 HMAC-SHA256 of everything above up to and including "---">
 *
 * Base64 is the standard alphabet without padding and must be canonical. An X25519 stanza wraps the 16-byte file key
 * with ChaCha20-Poly1305 (zero nonce) under HKDF-SHA256(ikm = X25519(ephemeral, recipient), salt = share ‖ recipient,
 * info = "age-encryption.org/v1/X25519"); an all-zero shared secret is refused. The MAC key is
 * HKDF-SHA256(ikm = file key, salt = empty, info = "header"). Stanzas of other types are carried but not opened.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import { AgeDecryptError } from './age-errors.ts';
import { type AgeIdentity, type AgeRecipient, rawPublicKey, x25519 } from './age-keys.ts';

export const AGE_VERSION_LINE = 'age-encryption.org/v1';
export const FILE_KEY_BYTES = 16;
const X25519_TYPE = 'X25519';
const X25519_INFO = 'age-encryption.org/v1/X25519';
const TAG_BYTES = 16;
const ZERO_NONCE = Buffer.alloc(12);
const COLUMNS = 64;
const BASE64 = /^[A-Za-z0-9+/]*$/;

/** One recipient stanza: its type and arguments, and its body. */
export interface Stanza {
  type: string;
  args: string[];
  body: Buffer;
}

/** A parsed header: the stanzas, the MAC, and the header's bytes up to and including `---` (what the MAC covers). */
export interface ParsedHeader {
  stanzas: Stanza[];
  mac: Buffer;
  macInput: Buffer;
}

/** Canonical unpadded standard base64, or null when `text` is not exactly that. */
export function decodeBase64Strict(text: string): Buffer | null {
  if (!BASE64.test(text) || text.length % 4 === 1) return null;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64').replace(/=+$/, '') === text ? bytes : null;
}

function encodeBase64(bytes: Buffer): string {
  return bytes.toString('base64').replace(/=+$/, '');
}

function hkdf(ikm: Buffer, salt: Buffer, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', ikm, salt, info, 32));
}

function headerMac(fileKey: Buffer, macInput: Buffer): Buffer {
  return createHmac('sha256', hkdf(fileKey, Buffer.alloc(0), 'header'))
    .update(macInput)
    .digest();
}

/** Wraps `fileKey` to `recipient` with a fresh ephemeral key. */
export function wrapFileKey(fileKey: Buffer, recipient: AgeRecipient): Stanza {
  const ephemeral = generateKeyPairSync('x25519');
  const share = rawPublicKey(ephemeral.publicKey);
  const shared = x25519(ephemeral.privateKey, recipient.publicKeyBytes);
  const wrapKey = hkdf(shared, Buffer.concat([share, recipient.publicKeyBytes]), X25519_INFO);
  const cipher = createCipheriv('chacha20-poly1305', wrapKey, ZERO_NONCE, { authTagLength: TAG_BYTES });
  const body = Buffer.concat([cipher.update(fileKey), cipher.final(), cipher.getAuthTag()]);
  return { type: X25519_TYPE, args: [encodeBase64(share)], body };
}

/**
 * The file key from an X25519 stanza if `identity` opens it, null if it does not (another recipient's stanza).
 * A malformed X25519 stanza, or a share giving the all-zero secret, is a header failure.
 */
export function unwrapFileKey(stanza: Stanza, identity: AgeIdentity): Buffer | null {
  if (stanza.type !== X25519_TYPE) return null;
  if (stanza.args.length !== 1) throw new AgeDecryptError('header', 'an X25519 stanza must have exactly one argument');
  const share = decodeBase64Strict(stanza.args[0]!);
  if (!share || share.length !== 32)
    throw new AgeDecryptError('header', 'the X25519 share must be 32 bytes in canonical base64');
  if (stanza.body.length !== FILE_KEY_BYTES + TAG_BYTES)
    throw new AgeDecryptError('header', `an X25519 stanza's body must be ${FILE_KEY_BYTES + TAG_BYTES} bytes`);
  let shared: Buffer;
  try {
    shared = x25519(identity.privateKey, share);
  } catch {
    // OpenSSL refuses to derive from a low-order point (the result would be all zeros).
    throw new AgeDecryptError('header', 'the X25519 share gives the all-zero shared secret');
  }
  if (shared.every((byte) => byte === 0))
    throw new AgeDecryptError('header', 'the X25519 share gives the all-zero shared secret');
  const wrapKey = hkdf(shared, Buffer.concat([share, identity.recipient.publicKeyBytes]), X25519_INFO);
  const decipher = createDecipheriv('chacha20-poly1305', wrapKey, ZERO_NONCE, { authTagLength: TAG_BYTES });
  decipher.setAuthTag(stanza.body.subarray(FILE_KEY_BYTES));
  try {
    return Buffer.concat([decipher.update(stanza.body.subarray(0, FILE_KEY_BYTES)), decipher.final()]);
  } catch {
    return null;
  }
}

function formatStanza(stanza: Stanza): string {
  const lines = [`-> ${[stanza.type, ...stanza.args].join(' ')}`];
  const body = encodeBase64(stanza.body);
  for (let start = 0; start <= body.length; start += COLUMNS) lines.push(body.slice(start, start + COLUMNS));
  // The loop always ends with a line shorter than 64 columns (empty when the body fills whole lines), as required.
  return lines.map((line) => `${line}\n`).join('');
}

/** A new header for `recipients`: a fresh file key, one stanza per recipient, and the MAC. */
export function createHeader(recipients: readonly AgeRecipient[]): { header: Buffer; fileKey: Buffer } {
  if (recipients.length === 0) throw new Error('age: at least one recipient is required');
  const fileKey = randomBytes(FILE_KEY_BYTES);
  const text = `${AGE_VERSION_LINE}\n${recipients.map((recipient) => formatStanza(wrapFileKey(fileKey, recipient))).join('')}---`;
  const macInput = Buffer.from(text, 'latin1');
  const mac = headerMac(fileKey, macInput);
  return { header: Buffer.concat([macInput, Buffer.from(` ${encodeBase64(mac)}\n`, 'latin1')]), fileKey };
}

/**
 * Parses a header from the start of `bytes`. Returns null when more bytes are needed (no complete MAC line yet), or
 * the header and the number of bytes it took. Throws `AgeDecryptError('header')` for anything not exactly as specified.
 */
export function parseHeader(bytes: Buffer): { header: ParsedHeader; length: number } | null {
  let position = 0;
  const nextLine = (): string | null => {
    const end = bytes.indexOf(0x0a, position);
    if (end < 0) return null;
    const line = bytes.subarray(position, end).toString('latin1');
    position = end + 1;
    return line;
  };
  const version = nextLine();
  if (version === null) return null;
  if (version !== AGE_VERSION_LINE) throw new AgeDecryptError('header', 'the file does not start with the age v1 line');
  const stanzas: Stanza[] = [];
  for (;;) {
    const lineStart = position;
    const line = nextLine();
    if (line === null) return null;
    if (line.startsWith('---')) {
      if (!line.startsWith('--- ')) throw new AgeDecryptError('header', 'the MAC line must be "--- " and the MAC');
      const mac = decodeBase64Strict(line.slice(4));
      if (!mac || mac.length !== 32)
        throw new AgeDecryptError('header', 'the MAC must be 32 bytes in canonical base64');
      if (stanzas.length === 0) throw new AgeDecryptError('header', 'the header has no recipient stanza');
      return { header: { stanzas, mac, macInput: bytes.subarray(0, lineStart + 3) }, length: position };
    }
    if (!line.startsWith('-> ')) throw new AgeDecryptError('header', 'expected a stanza ("-> …") or the MAC line');
    const args = line.slice(3).split(' ');
    if (args.some((arg) => arg === '' || !/^[\x21-\x7e]+$/.test(arg)))
      throw new AgeDecryptError('header', 'stanza arguments must be non-empty printable ASCII separated by one space');
    const bodyParts: Buffer[] = [];
    for (;;) {
      const bodyLine = nextLine();
      if (bodyLine === null) return null;
      const part = bodyLine.length <= COLUMNS ? decodeBase64Strict(bodyLine) : null;
      if (!part)
        throw new AgeDecryptError('header', 'a stanza body line is not canonical base64 of at most 64 columns');
      bodyParts.push(part);
      if (bodyLine.length < COLUMNS) break;
    }
    stanzas.push({ type: args[0]!, args: args.slice(1), body: Buffer.concat(bodyParts) });
  }
}

/** The file key of a parsed header: the first stanza an identity opens, with the MAC checked. */
export function openHeader(header: ParsedHeader, identities: readonly AgeIdentity[]): Buffer {
  for (const stanza of header.stanzas) {
    for (const identity of identities) {
      const fileKey = unwrapFileKey(stanza, identity);
      if (!fileKey) continue;
      if (!timingSafeEqual(headerMac(fileKey, header.macInput), header.mac))
        throw new AgeDecryptError('hmac', 'the header MAC does not match the file key');
      return fileKey;
    }
  }
  throw noMatch(header, identities.length);
}

function noMatch(header: ParsedHeader, identityCount: number): AgeDecryptError {
  const x25519Stanzas = header.stanzas.filter((stanza) => stanza.type === X25519_TYPE).length;
  return new AgeDecryptError(
    'no-match',
    `the file has ${header.stanzas.length} recipient stanza(s) (${x25519Stanzas} X25519); none opens with the ${identityCount} identit${identityCount === 1 ? 'y' : 'ies'} given`,
  );
}

/**
 * Which of `identities` opens the age file starting with `head` (its first bytes: enough for the header). Throws
 * `AgeDecryptError`: 'header' (not an age file, or `head` ends inside the header), 'no-match' (naming the file's
 * recipient count), 'hmac'. For refusing a restore before anything is sent, with a clear reason.
 */
export function findOpeningIdentity(head: Buffer, identities: readonly AgeIdentity[]): AgeIdentity {
  const parsed = parseHeader(head);
  if (!parsed) throw new AgeDecryptError('header', 'the file ends inside the header');
  for (const identity of identities) {
    try {
      openHeader(parsed.header, [identity]);
      return identity;
    } catch (error) {
      if (!(error instanceof AgeDecryptError) || error.failure !== 'no-match') throw error;
    }
  }
  throw noMatch(parsed.header, identities.length);
}
