import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { engineVersionFromHead } from '../../../src/lib/verification/index.ts';
import { mariadb, redis, runCommand } from '../../support/engines.ts';
import { ADMIN_URL, adminQuery } from '../../support/postgres.ts';

// The engine's version read from the first 4 KiB of real dumps made by the real tools against the local servers,
// compared with what each server says of itself.

const HEAD = 4 * 1024;
const headOf = (bytes: Buffer) => bytes.subarray(0, HEAD);

describe('engineVersionFromHead', () => {
  it('reads the server version from a pg_dump custom archive', async () => {
    const { stdout } = await runCommand('pg_dump', ['--format=custom', '--schema-only', ADMIN_URL]);
    const server = (await adminQuery('SHOW server_version')).rows[0].server_version as string;
    expect(engineVersionFromHead('postgres-custom', headOf(stdout))).toBe(`PostgreSQL ${server}`);
    // Cut inside the header: not known, no error.
    expect(engineVersionFromHead('postgres-custom', stdout.subarray(0, 60))).toBeNull();
  });

  it('reads archive 1.15 (PostgreSQL 16 and later), whose compression is one byte', () => {
    const int = (value: number) => Buffer.from([0, value & 0xff, 0, 0, 0]);
    const text = (value: string) => Buffer.concat([int(value.length), Buffer.from(value)]);
    const header = Buffer.concat([
      Buffer.from('PGDMP'),
      Buffer.from([1, 15, 0, 4, 8, 1]),
      Buffer.from([0]), // compression algorithm: none
      ...[0, 15, 3, 2, 11, 126, 0].map(int),
      text('app'),
      text('16.4 (Debian 16.4-1.pgdg120+1)'),
      text('16.4 (Debian 16.4-1.pgdg120+1)'),
    ]);
    expect(engineVersionFromHead('postgres-custom', header)).toBe('PostgreSQL 16.4 (Debian 16.4-1.pgdg120+1)');
  });

  it('reads the server version from a mariadb-dump', async () => {
    const { stdout } = await runCommand('mariadb-dump', ['-uroot', '--no-data', 'mysql', 'db']);
    const server = await mariadb('SELECT VERSION()');
    expect(engineVersionFromHead('mysql-sql', headOf(stdout))).toBe(server);
  });

  it('reads redis-ver from an RDB file', async () => {
    const folder = await mkdtemp(path.join(tmpdir(), 'engine-version-'));
    await runCommand('redis-cli', ['-h', '127.0.0.1', '--rdb', path.join(folder, 'dump.rdb')]);
    const stdout = await readFile(path.join(folder, 'dump.rdb'));
    await rm(folder, { recursive: true });
    const info = await redis(['INFO', 'server']);
    const server = /redis_version:(\S+)/.exec(info)![1];
    expect(engineVersionFromHead('redis-rdb', headOf(stdout))).toBe(`Redis ${server}`);
  });

  it('gives null for other formats, foreign bytes and control characters only', () => {
    expect(engineVersionFromHead('mongo-archive', Buffer.from('anything'))).toBeNull();
    expect(engineVersionFromHead('postgres-custom', Buffer.from('-- PostgreSQL database dump\n'))).toBeNull();
    expect(engineVersionFromHead('mysql-sql', Buffer.from('-- Server version\t\u0007\u0008\n'))).toBeNull();
    expect(engineVersionFromHead('redis-rdb', Buffer.from('REDIS0011'))).toBeNull();
  });
});
