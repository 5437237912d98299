/**
 * The `Range` request header for one file (RFC 9110 §14): which bytes to send. Pure, for the download endpoint.
 * One range is served (`bytes=0-99`, `bytes=100-`, `bytes=-100`); anything we do not serve (several ranges, other
 * units, malformed text) is ignored and the whole file is sent, as the RFC allows.
 */

/** What to send: everything, bytes `start`..`end` (inclusive), or nothing (416) because no byte is in range. */
export type ByteRangeDecision =
  { kind: 'whole' } | { kind: 'partial'; start: number; end: number } | { kind: 'unsatisfiable' };

const SINGLE_RANGE = /^bytes=(\d*)-(\d*)$/i;

/** Decides which bytes of a file of `size` bytes answer the `Range` header `header` (null: none was sent). */
export function decideByteRange(header: string | null, size: number): ByteRangeDecision {
  const match = SINGLE_RANGE.exec(header?.trim() ?? '');
  if (!match) return { kind: 'whole' };
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return { kind: 'whole' };
  if (first === '') {
    // Suffix range: the last N bytes.
    const length = Number(last);
    if (length === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', start: Math.max(0, size - length), end: size - 1 };
  }
  const start = Number(first);
  // `bytes=9-3` is not a range at all (ignored); `bytes=<size>-` is one that holds no byte (416).
  if (last !== '' && Number(last) < start) return { kind: 'whole' };
  if (start >= size) return { kind: 'unsatisfiable' };
  return { kind: 'partial', start, end: last === '' ? size - 1 : Math.min(Number(last), size - 1) };
}
