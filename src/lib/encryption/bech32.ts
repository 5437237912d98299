/**
 * Bech32 (BIP 173, the original checksum constant 1, not bech32m), as age uses it for `age1…` recipients and
 * `AGE-SECRET-KEY-1…` identities. Unlike BIP 173, age sets no 90-character limit. A string must be all lowercase or
 * all uppercase; the human-readable part is returned lowercase.
 */

const CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
const GENERATOR = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];

/** A string that is not valid bech32; `reason` says what is wrong (never the string itself, which may be a secret). */
export class Bech32Error extends Error {
  override readonly name = 'Bech32Error';
  constructor(readonly reason: string) {
    super(`bech32: ${reason}`);
  }
}

function polymod(values: number[]): number {
  let checksum = 1;
  for (const value of values) {
    const top = checksum >>> 25;
    checksum = ((checksum & 0x1ffffff) << 5) ^ value;
    for (let bit = 0; bit < 5; bit += 1) if ((top >>> bit) & 1) checksum ^= GENERATOR[bit]!;
  }
  return checksum >>> 0;
}

function expandPrefix(prefix: string): number[] {
  const high = [...prefix].map((character) => character.charCodeAt(0) >>> 5);
  const low = [...prefix].map((character) => character.charCodeAt(0) & 31);
  return [...high, 0, ...low];
}

/** Regroups bits (8 → 5 when encoding, 5 → 8 when decoding, which must leave no non-zero padding). */
function convertBits(data: ArrayLike<number>, from: number, to: number, pad: boolean): number[] {
  let accumulator = 0;
  let bits = 0;
  const result: number[] = [];
  const mask = (1 << to) - 1;
  for (let index = 0; index < data.length; index += 1) {
    accumulator = (accumulator << from) | data[index]!;
    bits += from;
    while (bits >= to) {
      bits -= to;
      result.push((accumulator >>> bits) & mask);
    }
  }
  if (pad) {
    if (bits > 0) result.push((accumulator << (to - bits)) & mask);
  } else if (bits >= from || ((accumulator << (to - bits)) & mask) !== 0) {
    throw new Bech32Error('non-zero padding bits');
  }
  return result;
}

/** Encodes `data` under the human-readable part `prefix` (lowercase result). */
export function encodeBech32(prefix: string, data: Uint8Array): string {
  const words = convertBits(data, 8, 5, true);
  const checksum = polymod([...expandPrefix(prefix), ...words, 0, 0, 0, 0, 0, 0]) ^ 1;
  const checksumWords = Array.from({ length: 6 }, (_, index) => (checksum >>> (5 * (5 - index))) & 31);
  return `${prefix}1${[...words, ...checksumWords].map((word) => CHARSET[word]).join('')}`;
}

/** Decodes a bech32 string into its (lowercase) human-readable part and its bytes; throws `Bech32Error`. */
export function decodeBech32(text: string): { prefix: string; data: Buffer } {
  if (text !== text.toLowerCase() && text !== text.toUpperCase()) throw new Bech32Error('mixed case');
  const lower = text.toLowerCase();
  const separator = lower.lastIndexOf('1');
  if (separator < 1 || separator + 7 > lower.length) throw new Bech32Error('no separator or too short');
  const prefix = lower.slice(0, separator);
  for (const character of prefix) {
    const code = character.charCodeAt(0);
    if (code < 33 || code > 126) throw new Bech32Error('invalid character in the human-readable part');
  }
  const words: number[] = [];
  for (const character of lower.slice(separator + 1)) {
    const word = CHARSET.indexOf(character);
    if (word < 0) throw new Bech32Error('invalid character in the data part');
    words.push(word);
  }
  if (polymod([...expandPrefix(prefix), ...words]) !== 1) throw new Bech32Error('invalid checksum');
  return { prefix, data: Buffer.from(convertBits(words.slice(0, -6), 5, 8, false)) };
}
