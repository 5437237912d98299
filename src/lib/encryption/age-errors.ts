/**
 * Errors of the age layer. `AgeKeyError` is a recipient or identity that cannot be used (never quoting an identity,
 * which is a secret); `AgeDecryptError` is a file that does not decrypt, with the stage that refused it, in the terms
 * of the age test vectors: the header does not parse, no identity matches, the header MAC is wrong, or the payload is
 * damaged or cut short.
 */

/** Why a file did not decrypt. */
export type AgeDecryptFailure = 'header' | 'no-match' | 'hmac' | 'payload';

/** A recipient (`age1…`) or identity (`AGE-SECRET-KEY-1…`) that is not valid. */
export class AgeKeyError extends Error {
  override readonly name = 'AgeKeyError';
  constructor(
    readonly keyKind: 'recipient' | 'identity',
    /** The recipient as given (public), or a position such as `line 3` for an identity (secret). */
    readonly subject: string,
    readonly reason: string,
  ) {
    super(`age: invalid ${keyKind} ${subject}: ${reason}`);
  }
}

/** A file that does not decrypt; `failure` says at which stage. */
export class AgeDecryptError extends Error {
  override readonly name = 'AgeDecryptError';
  constructor(
    readonly failure: AgeDecryptFailure,
    readonly detail: string,
  ) {
    super(`age: ${describeFailure(failure)}: ${detail}`);
  }
}

function describeFailure(failure: AgeDecryptFailure): string {
  switch (failure) {
    case 'header':
      return 'the header is not a valid age header';
    case 'no-match':
      return 'no identity matches the file';
    case 'hmac':
      return 'the header MAC does not match (the header was changed)';
    case 'payload':
      return 'the payload is damaged or incomplete';
  }
}
