/**
 * The database engine's version as a dump states it in its first bytes, for the backup's manifest: what a person
 * restoring it without the platform needs to pick the right tool. Read from the export's raw head (before the store
 * compresses or encrypts), so no query runs in the tenant's pod and no file is read back. Pure; unknown formats, a
 * head too short or bytes that do not parse give null, never an error: the version is information, not a check.
 *
 * - `postgres-custom`: pg_dump's archive header (`PGDMP`, archive version, int and offset sizes, format, compression,
 *   creation time, database name, then the server's version string and pg_dump's own).
 * - `mysql-sql`: the `-- Server version` comment of mysqldump / mariadb-dump.
 * - `redis-rdb`: the `redis-ver` auxiliary field after `REDIS` + RDB version.
 */

const MAX_VERSION_CHARS = 200;

export function engineVersionFromHead(format: string | null, head: Buffer): string | null {
  try {
    const version =
      format === 'postgres-custom'
        ? postgresCustomVersion(head)
        : format === 'mysql-sql'
          ? mysqlDumpVersion(head)
          : format === 'redis-rdb'
            ? redisRdbVersion(head)
            : null;
    return version === null ? null : clean(version);
  } catch (error) {
    if (error instanceof RangeError) return null; // the head ended inside the header
    throw error;
  }
}

/** Printable text only, bounded: the bytes come from the tenant's pod. */
function clean(version: string): string | null {
  const text = version.replace(/[^\x20-\x7e]/g, '').trim();
  return text.length === 0 ? null : text.slice(0, MAX_VERSION_CHARS);
}

function postgresCustomVersion(head: Buffer): string | null {
  if (head.length < 11 || head.subarray(0, 5).toString('latin1') !== 'PGDMP') return null;
  const [major, minor] = [head[5]!, head[6]!];
  const intSize = head[8]!;
  if (intSize < 1 || intSize > 8) return null;
  let offset = 11; // after the magic, three version bytes, int size, offset size and format
  // pg_dump's WriteInt: one sign byte, then intSize bytes, least significant first.
  const readInt = (): number => {
    if (offset + 1 + intSize > head.length) throw new RangeError('head too short');
    let value = 0;
    for (let index = intSize - 1; index >= 0; index -= 1) value = value * 256 + head[offset + 1 + index]!;
    const negative = head[offset] !== 0;
    offset += 1 + intSize;
    return negative ? -value : value;
  };
  const readString = (): string | null => {
    const length = readInt();
    if (length < 0) return null;
    if (offset + length > head.length) throw new RangeError('head too short');
    const text = head.subarray(offset, offset + length).toString('utf8');
    offset += length;
    return text;
  };
  // Archive 1.15 (PostgreSQL 16) stores the compression algorithm as one byte; earlier ones as an int.
  if (major > 1 || (major === 1 && minor >= 15)) offset += 1;
  else readInt();
  for (let field = 0; field < 7; field += 1) readInt(); // creation time: sec, min, hour, mday, mon, year, isdst
  readString(); // the database's name
  const server = readString();
  return server ? `PostgreSQL ${server}` : null;
}

function mysqlDumpVersion(head: Buffer): string | null {
  const match = /^-- Server version\s+(.+)$/m.exec(head.toString('utf8'));
  return match ? match[1]! : null;
}

function redisRdbVersion(head: Buffer): string | null {
  if (head.length < 9 || head.subarray(0, 5).toString('latin1') !== 'REDIS') return null;
  // Auxiliary fields (opcode 0xFA) follow the 9-byte header: a length-prefixed key and value each.
  let offset = 9;
  while (offset < head.length && head[offset] === 0xfa) {
    offset += 1;
    const key = readRdbString(head, offset);
    if (!key) return null;
    const value = readRdbString(head, key.next);
    if (!value) return null;
    if (key.text === 'redis-ver') return `Redis ${value.text}`;
    offset = value.next;
  }
  return null;
}

/** An RDB string with a 6-bit or 14-bit length, or an 8/16/32-bit integer encoding; null for other encodings. */
function readRdbString(head: Buffer, offset: number): { text: string; next: number } | null {
  const first = head[offset];
  if (first === undefined) throw new RangeError('head too short');
  const kind = first >> 6;
  if (kind === 0 || kind === 1) {
    const length = kind === 0 ? first & 0x3f : ((first & 0x3f) << 8) | head[offset + 1]!;
    const start = offset + (kind === 0 ? 1 : 2);
    if (start + length > head.length) throw new RangeError('head too short');
    return { text: head.subarray(start, start + length).toString('latin1'), next: start + length };
  }
  if (kind === 3) {
    const encoding = first & 0x3f;
    const size = encoding === 0 ? 1 : encoding === 1 ? 2 : encoding === 2 ? 4 : 0;
    if (size === 0) return null;
    if (offset + 1 + size > head.length) throw new RangeError('head too short');
    return { text: String(head.readIntLE(offset + 1, size)), next: offset + 1 + size };
  }
  return null;
}
