/**
 * age X25519 keys (https://age-encryption.org/v1): recipients `age1…` (the 32-byte public key, bech32 with the
 * prefix `age`) and identities `AGE-SECRET-KEY-1…` (the 32-byte private key, bech32 with the prefix
 * `age-secret-key-`, uppercase), as `node:crypto` key objects. Recipients are public and may be shown; identities are
 * secrets: nothing here ever puts one into an error message.
 *
 * A fingerprint names a key without showing it: `x25519:` and the first 16 hex digits of the sha256 of the public
 * key. A recipient and the identity it belongs to have the same fingerprint, so a backup's record can say whom it was
 * encrypted to, and a refusal can say which identity would open it.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { Bech32Error, decodeBech32, encodeBech32 } from './bech32.ts';
import { AgeKeyError } from './age-errors.ts';

const RECIPIENT_PREFIX = 'age';
const IDENTITY_PREFIX = 'age-secret-key-';
const KEY_BYTES = 32;
/** DER prefixes that turn a raw X25519 key into SPKI / PKCS#8 (RFC 8410), which `node:crypto` imports. */
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

/** An X25519 recipient: whom a file is encrypted to. */
export interface AgeRecipient {
  /** The `age1…` string. */
  readonly text: string;
  readonly publicKey: KeyObject;
  readonly publicKeyBytes: Buffer;
  readonly fingerprint: string;
}

/** An X25519 identity: what decrypts a file. */
export interface AgeIdentity {
  readonly privateKey: KeyObject;
  /** The recipient this identity opens. */
  readonly recipient: AgeRecipient;
}

/** The raw 32-byte public key of an X25519 key object. */
export function rawPublicKey(key: KeyObject): Buffer {
  return key.export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length);
}

/** The fingerprint of a 32-byte public key (see the module comment). */
export function keyFingerprint(publicKeyBytes: Buffer): string {
  return `x25519:${createHash('sha256').update(publicKeyBytes).digest('hex').slice(0, 16)}`;
}

function recipientFromBytes(publicKeyBytes: Buffer): AgeRecipient {
  const publicKey = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKeyBytes]), format: 'der', type: 'spki' });
  return {
    text: encodeBech32(RECIPIENT_PREFIX, publicKeyBytes),
    publicKey,
    publicKeyBytes,
    fingerprint: keyFingerprint(publicKeyBytes),
  };
}

/**
 * How a recipient that failed to parse is named in the error: quoted, unless it is (or may be) an identity pasted
 * into a recipient list by mistake, which is a secret and is never repeated.
 */
function describeRecipientInput(text: string): string {
  if (text.toLowerCase().startsWith(IDENTITY_PREFIX))
    return '(an age identity, which is a secret key: recipient lists hold public "age1…" keys only)';
  return text.startsWith(`${RECIPIENT_PREFIX}1`) ? JSON.stringify(text) : '(a value that is not an "age1…" recipient)';
}

/** Parses one `age1…` recipient; throws `AgeKeyError` saying what is wrong. */
export function parseRecipient(text: string): AgeRecipient {
  const subject = describeRecipientInput(text);
  let decoded: { prefix: string; data: Buffer };
  try {
    decoded = decodeBech32(text);
  } catch (error) {
    throw new AgeKeyError('recipient', subject, error instanceof Bech32Error ? error.reason : String(error));
  }
  if (text !== text.toLowerCase()) throw new AgeKeyError('recipient', subject, 'must be lowercase');
  if (decoded.prefix !== RECIPIENT_PREFIX)
    throw new AgeKeyError('recipient', subject, 'must start with "age1" (an X25519 recipient)');
  if (decoded.data.length !== KEY_BYTES)
    throw new AgeKeyError('recipient', subject, `must hold ${KEY_BYTES} bytes, not ${decoded.data.length}`);
  return recipientFromBytes(decoded.data);
}

/**
 * Parses a list of recipients separated by whitespace or commas (`#` starts a comment to the end of the line), as a
 * workspace or deployment holds them. An empty list is an error: encryption that is configured must have a recipient.
 */
export function parseRecipientList(text: string): AgeRecipient[] {
  const recipients = text
    .split('\n')
    .map((line) => line.replace(/#.*$/, ''))
    .join(' ')
    .split(/[\s,]+/)
    .filter((part) => part !== '')
    .map(parseRecipient);
  if (recipients.length === 0) throw new AgeKeyError('recipient', 'list', 'no recipient is given');
  return recipients;
}

/** Parses one `AGE-SECRET-KEY-1…` identity; `subject` names it in errors (never the key). */
export function parseIdentity(text: string, subject = 'identity'): AgeIdentity {
  let decoded: { prefix: string; data: Buffer };
  try {
    decoded = decodeBech32(text);
  } catch (error) {
    throw new AgeKeyError('identity', subject, error instanceof Bech32Error ? error.reason : 'not bech32');
  }
  if (text !== text.toUpperCase()) throw new AgeKeyError('identity', subject, 'must be uppercase');
  if (decoded.prefix !== IDENTITY_PREFIX)
    throw new AgeKeyError('identity', subject, 'must start with "AGE-SECRET-KEY-1" (an X25519 identity)');
  if (decoded.data.length !== KEY_BYTES)
    throw new AgeKeyError('identity', subject, `must hold ${KEY_BYTES} bytes, not ${decoded.data.length}`);
  const privateKey = createPrivateKey({
    key: Buffer.concat([PKCS8_PREFIX, decoded.data]),
    format: 'der',
    type: 'pkcs8',
  });
  return { privateKey, recipient: recipientFromBytes(rawPublicKey(createPublicKey(privateKey))) };
}

/**
 * Parses an identity file as `age-keygen` writes it (and `age -i` reads it): one identity per line, blank lines and
 * `#` comment lines ignored. Errors name the line, never its content. At least one identity is required.
 */
export function parseIdentityFile(text: string): AgeIdentity[] {
  const identities: AgeIdentity[] = [];
  text.split('\n').forEach((rawLine, index) => {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#')) return;
    identities.push(parseIdentity(line, `on line ${index + 1}`));
  });
  if (identities.length === 0) throw new AgeKeyError('identity', 'file', 'it holds no identity');
  return identities;
}

/** A new random identity (tests, benchmarks, `age-keygen`'s job); `text` is the secret `AGE-SECRET-KEY-1…` form. */
export function generateIdentity(): { identity: AgeIdentity; text: string } {
  const { privateKey } = generateKeyPairSync('x25519');
  const privateBytes = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(PKCS8_PREFIX.length);
  const text = encodeBech32(IDENTITY_PREFIX, privateBytes).toUpperCase();
  return { identity: parseIdentity(text), text };
}

/** X25519(private, public) as raw bytes. */
export function x25519(privateKey: KeyObject, publicKeyBytes: Buffer): Buffer {
  const publicKey = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKeyBytes]), format: 'der', type: 'spki' });
  return diffieHellman({ privateKey, publicKey });
}
