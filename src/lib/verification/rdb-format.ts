/**
 * What makes a Redis RDB file complete: it starts with `REDIS` and a four-digit format version, and (from version 5
 * on) ends with the EOF opcode 0xFF followed by the CRC-64/Jones of every byte before the checksum, stored as
 * 8 bytes little-endian. A zero checksum means the server had `rdbchecksum no`; then only the framing is checked.
 * The streaming checker holds back the last 8 bytes, since only the end of the stream tells which bytes are the
 * checksum; memory stays flat.
 */
import { Crc64 } from './crc64.ts';

export const RDB_MAGIC = 'REDIS';
/** `REDIS` and four ASCII digits. */
export const RDB_HEADER_BYTES = 9;
export const RDB_EOF_OPCODE = 0xff;
const CHECKSUM_BYTES = 8;
/** RDB versions before 5 have no checksum (Redis 2.4 and older). */
const FIRST_VERSION_WITH_CHECKSUM = 5;

export type RdbHeader = { ok: true; version: number } | { ok: false; problem: string };

/** Parses the first bytes of an RDB file. */
export function parseRdbHeader(head: Uint8Array): RdbHeader {
  const text = Buffer.from(head.subarray(0, RDB_HEADER_BYTES)).toString('latin1');
  if (head.length < RDB_HEADER_BYTES)
    return { ok: false, problem: `the file has only ${head.length} byte(s), shorter than an RDB header` };
  if (!text.startsWith(RDB_MAGIC))
    return {
      ok: false,
      problem: `the file does not start with "${RDB_MAGIC}" (it starts with ${JSON.stringify(text)})`,
    };
  const digits = text.slice(RDB_MAGIC.length);
  if (!/^\d{4}$/.test(digits))
    return { ok: false, problem: `the RDB version ${JSON.stringify(digits)} is not four digits` };
  return { ok: true, version: Number(digits) };
}

export type RdbCheck =
  { ok: true; version: number; checksum: 'verified' | 'disabled' | 'absent' } | { ok: false; problem: string };

/** Feed an RDB file's bytes in order with `update`, then call `finish`. */
export class RdbChecker {
  private readonly crc = new Crc64();
  private head: Buffer = Buffer.alloc(0);
  /** The newest bytes not yet fed to the CRC (at most 8 once anything was fed). */
  private pending: Buffer = Buffer.alloc(0);
  /** The last byte fed to the CRC: the EOF opcode, once the stream is complete. */
  private lastHashedByte: number | null = null;

  update(chunk: Buffer): void {
    if (this.head.length < RDB_HEADER_BYTES)
      this.head = Buffer.concat([this.head, chunk.subarray(0, RDB_HEADER_BYTES - this.head.length)]);
    const joined = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const cut = joined.length - CHECKSUM_BYTES;
    if (cut <= 0) {
      this.pending = joined;
      return;
    }
    const hashed = joined.subarray(0, cut);
    this.crc.update(hashed);
    this.lastHashedByte = hashed[hashed.length - 1] as number;
    // A copy: the stream may reuse the chunk's memory.
    this.pending = Buffer.from(joined.subarray(cut));
  }

  finish(): RdbCheck {
    const header = parseRdbHeader(this.head);
    if (!header.ok) return header;
    if (header.version < FIRST_VERSION_WITH_CHECKSUM) {
      const ends = this.pending[this.pending.length - 1] === RDB_EOF_OPCODE;
      return ends
        ? { ok: true, version: header.version, checksum: 'absent' }
        : { ok: false, problem: 'the file does not end with the RDB EOF opcode 0xFF: it was cut short' };
    }
    if (this.pending.length < CHECKSUM_BYTES || this.lastHashedByte !== RDB_EOF_OPCODE) {
      return {
        ok: false,
        problem: 'the file does not end with the RDB EOF opcode 0xFF and its 8-byte checksum: it was cut short',
      };
    }
    const stored = this.pending.readBigUInt64LE(0);
    if (stored === 0n) return { ok: true, version: header.version, checksum: 'disabled' };
    const computed = this.crc.value;
    if (stored !== computed) {
      return {
        ok: false,
        problem: `the RDB checksum does not match (stored ${hex64(stored)}, computed ${hex64(computed)}): the file is corrupt`,
      };
    }
    return { ok: true, version: header.version, checksum: 'verified' };
  }
}

function hex64(value: bigint): string {
  return `0x${value.toString(16).padStart(16, '0')}`;
}
