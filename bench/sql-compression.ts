/**
 * zstd against gzip (and none) on a real plain-SQL dump, for `npm run bench:backup`: a pgbench database of
 * BENCH_SQL_SCALE (default 65, about 1 GB on disk) is created on the local PostgreSQL (TEST_DATABASE_ADMIN_URL, or
 * postgres@127.0.0.1:5432), dumped once with `pg_dump --format=plain` to a file, and that file is streamed through the
 * backup store (compression, sha256, fsync, rename, sidecar: the real write path) with each compression,
 * BENCH_SQL_RUNS (3) rounds, order rotating per round. Printed side by side: raw and stored size, ratio, throughput
 * (raw bytes over the store's wall time) and CPU of this process. pgbench's accounts rows carry a blank filler, so
 * the dump is very compressible, like much real data. BENCH_SQL=0 skips it; a PostgreSQL that cannot be reached
 * skips it with a line that says so.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pipeline } from 'node:stream/promises';
import { createLogger } from '../src/lib/shared/logger.ts';
import { COMPRESSIONS, type Compression, createFileBackupStore } from '../src/lib/storage/index.ts';

const MIB = 1024 * 1024;
const DEFAULT_ADMIN_URL = 'postgresql://postgres@127.0.0.1:5432/postgres';

function run(command: string, args: string[], stdoutPath?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    void (async () => {
      const output = stdoutPath ? await open(stdoutPath, 'w') : undefined;
      const child = spawn(command, args, { stdio: ['ignore', output ? output.fd : 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr?.setEncoding('utf8').on('data', (text: string) => (stderr = (stderr + text).slice(-2_000)));
      child.once('error', reject);
      child.once('close', (code) => {
        void output?.close();
        if (code === 0) resolve();
        else reject(new Error(`${command} exited with ${code}: ${stderr.trim()}`));
      });
    })().catch(reject);
  });
}

function databaseUrl(adminUrl: string, database: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

interface Measured {
  ms: number;
  cpuMs: number;
  storedBytes: number;
}

/** Streams `dumpPath` through the store with `compression`; the stored file is removed afterwards. */
async function storeDump(root: string, dumpPath: string, compression: Compression, round: number): Promise<Measured> {
  const store = createFileBackupStore({ root, logger: createLogger({ level: 'silent' }) });
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const writer = await store.open({
    workspaceId: 'bench',
    deploymentName: `sql-${compression}`,
    extension: 'sql',
    compressed: false,
    compression,
    startedAt: new Date(Date.UTC(2026, 0, 1, 0, 0, round)),
  });
  await pipeline(createReadStream(dumpPath, { highWaterMark: 256 * 1024 }), writer.stream, { end: false });
  const stored = await writer.commit();
  const ms = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  await rm(stored.path);
  await rm(`${stored.path}.sha256`);
  return { ms, cpuMs: (cpu.user + cpu.system) / 1000, storedBytes: Number(stored.sizeBytes) };
}

/** Runs the comparison and prints its table; never throws for a missing PostgreSQL (says so instead). */
export async function benchSqlCompression(env: NodeJS.ProcessEnv, workDirectory: string): Promise<void> {
  if (env.BENCH_SQL === '0') return;
  const scale = Number(env.BENCH_SQL_SCALE ?? 65);
  const runs = Number(env.BENCH_SQL_RUNS ?? 3);
  if (!Number.isSafeInteger(scale) || scale <= 0 || !Number.isSafeInteger(runs) || runs <= 0)
    throw new Error('sql compression bench: BENCH_SQL_SCALE and BENCH_SQL_RUNS must be positive integers');
  const adminUrl = env.TEST_DATABASE_ADMIN_URL ?? DEFAULT_ADMIN_URL;
  const database = `ops_bench_sql_${randomBytes(4).toString('hex')}`;
  const folder = path.join(workDirectory, 'sql');
  await mkdir(path.join(folder, 'store'), { recursive: true });
  console.log('');
  console.log(`zstd vs gzip on a plain-SQL pg_dump of a pgbench database (scale ${scale}), ${runs} round(s)`);
  try {
    await run('psql', ['--quiet', `--dbname=${adminUrl}`, '-c', `CREATE DATABASE ${database}`]);
  } catch (error) {
    console.log(`  skipped: PostgreSQL at ${new URL(adminUrl).host} is not usable (${(error as Error).message})`);
    return;
  }
  try {
    const initStarted = performance.now();
    await run('pgbench', ['-i', '-q', '-s', String(scale), databaseUrl(adminUrl, database)]);
    const dumpPath = path.join(folder, 'dump.sql');
    const dumpStarted = performance.now();
    await run('pg_dump', ['--format=plain', '--no-owner', `--dbname=${databaseUrl(adminUrl, database)}`], dumpPath);
    const dumpMs = performance.now() - dumpStarted;
    const rawBytes = (await stat(dumpPath)).size;
    console.log(
      `  pgbench -i: ${((dumpStarted - initStarted) / 1000).toFixed(1)} s; pg_dump --format=plain: ` +
        `${(rawBytes / MIB).toFixed(0)} MiB in ${(dumpMs / 1000).toFixed(1)} s (${(rawBytes / MIB / (dumpMs / 1000)).toFixed(0)} MiB/s)`,
    );
    const results = new Map<Compression, Measured[]>(COMPRESSIONS.map((compression) => [compression, []]));
    for (let round = 0; round < runs; round += 1) {
      const order = [
        ...COMPRESSIONS.slice(round % COMPRESSIONS.length),
        ...COMPRESSIONS.slice(0, round % COMPRESSIONS.length),
      ];
      for (const compression of order) {
        await run('sync', ['-f', folder]);
        const measured = await storeDump(path.join(folder, 'store'), dumpPath, compression, round);
        results.get(compression)!.push(measured);
        console.log(
          `  round ${round + 1}  ${compression}: ${(measured.ms / 1000).toFixed(2)} s, ` +
            `${(rawBytes / MIB / (measured.ms / 1000)).toFixed(0)} MiB/s, stored ${(measured.storedBytes / MIB).toFixed(1)} MiB`,
        );
      }
    }
    const header = ['compression', 'raw MiB', 'stored MiB', 'ratio', 'median s', 'median MiB/s', 'CPU s'];
    const rows = COMPRESSIONS.map((compression) => {
      const measured = results.get(compression)!;
      const ms = median(measured.map((entry) => entry.ms));
      const stored = measured[0]!.storedBytes;
      return [
        compression,
        (rawBytes / MIB).toFixed(0),
        (stored / MIB).toFixed(1),
        `${(rawBytes / stored).toFixed(1)}x`,
        (ms / 1000).toFixed(2),
        (rawBytes / MIB / (ms / 1000)).toFixed(0),
        (median(measured.map((entry) => entry.cpuMs)) / 1000).toFixed(2),
      ];
    });
    const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
    const line = (cells: string[]) =>
      cells
        .map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!)))
        .join('  ');
    console.log('');
    console.log([line(header), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.map(line)].join('\n'));
    console.log(
      "MiB/s = raw dump bytes over the store's wall time (open → commit: compression, sha256, fsync, rename, sidecar);\n" +
        "zstd at level 3 with its checksum, gzip at zlib's default level 6. CPU = this process (compression, hashing).",
    );
  } finally {
    await run('psql', ['--quiet', `--dbname=${adminUrl}`, '-c', `DROP DATABASE IF EXISTS ${database}`]).catch(
      (error: unknown) =>
        console.error(`sql compression bench: could not drop ${database}: ${(error as Error).message}`),
    );
  }
}
