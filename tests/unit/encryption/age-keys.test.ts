import { describe, expect, it } from 'vitest';
import {
  AgeKeyError,
  generateIdentity,
  parseIdentity,
  parseIdentityFile,
  parseRecipient,
  parseRecipientList,
} from '../../../src/lib/encryption/index.ts';

// From the age specification's examples / CCTV `x25519` vector.
const IDENTITY = 'AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0';

describe('age keys', () => {
  it('derives the recipient of an identity and round-trips generated keys', () => {
    const identity = parseIdentity(IDENTITY);
    expect(identity.recipient.text).toMatch(/^age1[02-9ac-hj-np-z]{58}$/);
    expect(parseRecipient(identity.recipient.text).fingerprint).toBe(identity.recipient.fingerprint);
    const generated = generateIdentity();
    expect(parseIdentity(generated.text).recipient.text).toBe(generated.identity.recipient.text);
  });

  it.each([
    ['', 'no separator'],
    ['age1qqqq', 'no separator or too short'],
    [parseIdentity(IDENTITY).recipient.text.slice(0, -1) + 'q', 'invalid checksum'],
    [parseIdentity(IDENTITY).recipient.text.toUpperCase(), 'must be lowercase'],
    [IDENTITY.toLowerCase(), 'must start with "age1"'],
  ])('refuses the recipient %j (%s)', (text, reason) => {
    expect(() => parseRecipient(text)).toThrow(AgeKeyError);
    expect(() => parseRecipient(text)).toThrow(reason.split(' ')[0]);
  });

  it('never quotes an identity in its errors', () => {
    const broken = IDENTITY.slice(0, -1) + 'Q';
    for (const text of [broken, IDENTITY.toLowerCase(), `${IDENTITY}\nnot-a-key`]) {
      const error = (() => {
        try {
          parseIdentityFile(text);
        } catch (caught) {
          return caught as Error;
        }
        throw new Error('expected a refusal');
      })();
      expect(error).toBeInstanceOf(AgeKeyError);
      expect(error.message).not.toContain(IDENTITY.slice(20, 40));
      expect(error.message).not.toContain('not-a-key');
    }
  });

  it('reads recipient lists with comments, commas and newlines; an empty list is an error', () => {
    const a = generateIdentity().identity.recipient.text;
    const b = generateIdentity().identity.recipient.text;
    expect(parseRecipientList(`# ops team\n${a}, ${b}\n`).map((r) => r.text)).toEqual([a, b]);
    expect(() => parseRecipientList(' # nobody\n')).toThrow('no recipient');
    expect(() => parseRecipientList(`${a} age1nope`)).toThrow(AgeKeyError);
  });
});
