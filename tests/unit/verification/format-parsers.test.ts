import { describe, expect, it } from 'vitest';
import { ByteTail } from '../../../src/lib/verification/byte-tail.ts';
import { Crc64 } from '../../../src/lib/verification/crc64.ts';
import { checkDumpTrailer, lastNonEmptyLine } from '../../../src/lib/verification/mysql-trailer.ts';
import { parseRdbHeader, RdbChecker } from '../../../src/lib/verification/rdb-format.ts';

// The pure parts of the format check: the bounded tail of a stream, the MySQL dump trailer, the RDB header and end,
// and Redis's CRC-64. No files, no processes.

/** A real RDB file, written by redis-server 7.0.15 (`redis-cli --rdb`): aux fields, EOF opcode, CRC-64 little-endian. */
const REAL_RDB = Buffer.from(
  '524544495330303130fa0972656469732d76657206372e302e3135fa0a72656469732d62697473c040fa056374696d65c2b173026bfa08757365642d6d656dc2c88a0e00fa0e7265706c2d73747265616d2d6462c000fa077265706c2d69642839656534666333363335313731613564306633633133336538353638646439666335303139316664fa0b7265706c2d6f6666736574c000fa08616f662d62617365c000ffaa545863786de2fd',
  'hex',
);
const COMPLETED = '-- Dump completed on 2026-11-22  4:46:41';

function feed(bytes: Buffer, chunkSize: number): RdbChecker {
  const checker = new RdbChecker();
  for (let offset = 0; offset < bytes.length; offset += chunkSize)
    checker.update(bytes.subarray(offset, offset + chunkSize));
  return checker;
}

describe('Crc64 (CRC-64/Jones, as Redis computes it)', () => {
  it('gives the catalogue check value for "123456789", in one piece or byte by byte', () => {
    expect(new Crc64().update(Buffer.from('123456789')).value).toBe(0xe9c6d914c4b8d9can);
    const bytewise = new Crc64();
    for (const byte of Buffer.from('123456789')) bytewise.update(Uint8Array.of(byte));
    expect(bytewise.value).toBe(0xe9c6d914c4b8d9can);
  });

  it('is 0 for no input and differs after a single flipped bit', () => {
    expect(new Crc64().value).toBe(0n);
    expect(new Crc64().update(Buffer.from('123456788')).value).not.toBe(0xe9c6d914c4b8d9can);
  });
});

describe('ByteTail', () => {
  it.each([
    { chunks: ['abc', 'def', 'ghi'], capacity: 4, bytes: 'fghi', whole: false },
    { chunks: ['abc'], capacity: 4, bytes: 'abc', whole: true },
    { chunks: ['ab', '', 'cd'], capacity: 4, bytes: 'abcd', whole: true },
    { chunks: ['abcdefgh'], capacity: 3, bytes: 'fgh', whole: false },
    { chunks: [], capacity: 3, bytes: '', whole: true },
  ])('keeps the last $capacity bytes of $chunks', ({ chunks, capacity, bytes, whole }) => {
    const tail = new ByteTail(capacity);
    for (const chunk of chunks) tail.push(Buffer.from(chunk));
    expect(tail.read().bytes.toString()).toBe(bytes);
    expect(tail.read().wholeStream).toBe(whole);
  });

  it('holds at most the capacity plus one chunk however much passes through', () => {
    const tail = new ByteTail(100);
    for (let index = 0; index < 10_000; index += 1) tail.push(Buffer.alloc(64, index % 256));
    expect(tail.total).toBe(640_000);
    expect(tail.read().bytes).toHaveLength(100);
    expect((tail as unknown as { length: number }).length).toBeLessThanOrEqual(164);
  });

  it('refuses a capacity that is not a positive whole number', () => {
    expect(() => new ByteTail(0)).toThrow(/capacity must be a whole number >= 1 \(got 0\)/);
  });
});

describe('MySQL dump trailer', () => {
  it.each([
    { name: 'complete dump', text: `INSERT INTO t VALUES (1);\n${COMPLETED}\n`, whole: true, ok: true },
    { name: 'trailer followed by blank lines and CRLF', text: `x\r\n${COMPLETED}\r\n\r\n\n`, whole: true, ok: true },
    {
      name: 'cut in the middle of a statement',
      text: 'CREATE TABLE t (\n  id int,\n  name varch',
      whole: true,
      ok: false,
    },
    {
      name: 'trailer text inside an earlier line only',
      text: `${COMPLETED}\nINSERT INTO t VALUES (2);\n`,
      whole: true,
      ok: false,
    },
    { name: 'only the end of a long line is in the tail', text: 'Dump completed on 2026\n', whole: false, ok: false },
    { name: 'empty dump', text: '', whole: true, ok: false },
  ])('$name → ok: $ok', ({ text, whole, ok }) => {
    expect(checkDumpTrailer(Buffer.from(text, 'latin1'), whole).ok).toBe(ok);
  });

  it('names the last line it found instead, shortened', () => {
    const result = checkDumpTrailer(Buffer.from(`INSERT INTO t VALUES ${'(1),'.repeat(50)}`), true);
    expect(result).toEqual({
      ok: false,
      problem: expect.stringMatching(
        /^the dump does not end with "-- Dump completed" \(its last line is "INSERT INTO t VALUES \(1\),.*…"\): it was cut short$/,
      ),
    });
  });

  it('ignores a first line that may be cut when the tail is not the whole dump', () => {
    expect(lastNonEmptyLine(Buffer.from('-- Dump completed on x'), false)).toBeNull();
    expect(lastNonEmptyLine(Buffer.from('tail of a line\n-- Dump completed on x\n'), false)).toBe(
      '-- Dump completed on x',
    );
  });
});

describe('RDB header', () => {
  it.each([
    { head: 'REDIS0010', result: { ok: true, version: 10 } },
    { head: 'REDIS0011\xfa', result: { ok: true, version: 11 } },
    { head: 'REDIS', result: { ok: false, problem: 'the file has only 5 byte(s), shorter than an RDB header' } },
    {
      head: 'PGDMP\x01\x0e\x00\x04',
      result: { ok: false, problem: expect.stringContaining('does not start with "REDIS"') },
    },
    { head: 'REDISab10', result: { ok: false, problem: 'the RDB version "ab10" is not four digits' } },
  ])('$head', ({ head, result }) => {
    expect(parseRdbHeader(Buffer.from(head, 'latin1'))).toEqual(result);
  });
});

describe('RdbChecker', () => {
  it.each([1, 3, 8, 9, 17, 4096])(
    'accepts a real RDB file fed in chunks of %i bytes, its CRC-64 verified',
    (chunkSize) => {
      expect(feed(REAL_RDB, chunkSize).finish()).toEqual({ ok: true, version: 10, checksum: 'verified' });
    },
  );

  it('rejects the file with one byte changed in the middle (checksum mismatch)', () => {
    const corrupt = Buffer.from(REAL_RDB);
    corrupt[40] = (corrupt[40] as number) ^ 0x01;
    expect(feed(corrupt, 64).finish()).toEqual({
      ok: false,
      problem: expect.stringMatching(
        /^the RDB checksum does not match \(stored 0x[0-9a-f]{16}, computed 0x[0-9a-f]{16}\): the file is corrupt$/,
      ),
    });
  });

  it.each([1, 8, 9, 50, REAL_RDB.length - 1])('rejects the file cut to %i bytes', (length) => {
    expect(feed(REAL_RDB.subarray(0, length), 7).finish().ok).toBe(false);
  });

  it('accepts a zero checksum (rdbchecksum no) on framing alone', () => {
    const unchecked = Buffer.from(REAL_RDB);
    unchecked.fill(0, unchecked.length - 8);
    expect(feed(unchecked, 5).finish()).toEqual({ ok: true, version: 10, checksum: 'disabled' });
  });

  it('rejects a file without the EOF opcode before the checksum', () => {
    const noEof = Buffer.from(REAL_RDB);
    noEof[noEof.length - 9] = 0xfe;
    expect(feed(noEof, 5).finish()).toEqual({
      ok: false,
      problem: expect.stringContaining('does not end with the RDB EOF opcode 0xFF'),
    });
  });
});
