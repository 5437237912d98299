/**
 * What the table coverage check costs (`npm run bench:coverage`), in the two places it adds work, each measured
 * against the same work without it, interleaved over BENCH_RUNS (5) rounds (odd rounds in one order, even ones in
 * the other, so a load that rises or falls favours neither), medians compared:
 *   - the live count before an export: `runDataExport` of a PostgreSQL database of BENCH_TABLES (1000) small tables
 *     through the fake cluster (the recipe's pg_dump in the "pod", real exec protocol), with the recipe's
 *     `liveTables` and without it. The count is a fixed cost per backup (one more exec, a psql connection, a catalog
 *     query), whatever the size of the data. Target: it adds at most 1 s; its share of this small export is printed
 *     for information (a real export takes seconds to hours).
 *   - counting the dump's tables in the MySQL format check: a gzipped mysqldump-shaped file of BENCH_SQL_MIB (256 MiB
 *     decompressed; BENCH_TABLES tables, extended INSERT lines of 1 MiB with random hex values, so gzip works about
 *     as hard as on real data) read back through the format check's decoder with the trailer's byte tail alone, and
 *     with the tail and `SqlTableCounter`, on the process's CPU time (user + system; a busy shared machine disturbs it
 *     less than wall time, printed too). The difference of two such medians is mostly noise next to gunzip's work,
 *     so the target is on the time spent inside the counter itself: at most 10% of the read's CPU time.
 *     (The PostgreSQL side counts lines of `pg_restore --list` it read already: nothing to measure.)
 * Prints the 1-minute load average with each run. Exits 0 whatever the targets say (a missed one prints MISS); 1
 * when a run gives a wrong count.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import pg from 'pg';
import { runDataExport } from '../src/lib/backups/data-export.ts';
import { countLiveTables } from '../src/lib/backups/live-tables.ts';
import { createKubeClients } from '../src/lib/kube/kube-clients.ts';
import { DEFAULT_WORKSPACE_LABEL } from '../src/lib/kube/index.ts';
import { findRecipe } from '../src/lib/recipes/registry.ts';
import { createLogger } from '../src/lib/shared/logger.ts';
import { openDecodedStream } from '../src/lib/storage/backup-encoding.ts';
import { ByteTail } from '../src/lib/verification/byte-tail.ts';
import { SqlTableCounter } from '../src/lib/verification/dump-tables.ts';
import { podFor, startFakeKubeApi } from '../tests/support/fake-kube-api.ts';
import { createDatabase, databaseUrl, dropDatabase, uniqueDatabaseName } from '../tests/support/postgres.ts';
import { positiveSetting } from './bench-settings.ts';

const MIB = 1024 * 1024;
/** What the live count may add to a backup. */
const TARGET_COUNT_MS = 1_000;
/** What counting the tables may add to the MySQL format check's CPU time. */
const TARGET_EXTRA = 0.1;
const ROWS_PER_TABLE = 10;
/** One extended INSERT line, as mysqldump writes them (net_buffer_length is 1 MiB by default). */
const INSERT_LINE_BYTES = 1 * MIB;

const settings = {
  runs: positiveSetting(process.env, 'coverage', 'BENCH_RUNS', 5),
  tables: positiveSetting(process.env, 'coverage', 'BENCH_TABLES', 1_000),
  sqlMiB: positiveSetting(process.env, 'coverage', 'BENCH_SQL_MIB', 256),
};

const load = () => loadavg()[0]!.toFixed(2);
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const verdict = (met: boolean) => (met ? 'PASS' : 'MISS');
const percent = (extra: number) => `${extra >= 0 ? '+' : ''}${(extra * 100).toFixed(1)}%`;

/** Wall and CPU (user + system) time of one run, in ms. */
interface Timing {
  wallMs: number;
  cpuMs: number;
}

/** Runs `cases` once per round, in order in odd rounds and reversed in even ones; the timings of each. */
async function interleaved(cases: Record<string, () => Promise<void>>): Promise<Record<string, Timing[]>> {
  const names = Object.keys(cases);
  const timings: Record<string, Timing[]> = Object.fromEntries(names.map((name) => [name, []]));
  for (let round = 1; round <= settings.runs; round += 1) {
    for (const name of round % 2 === 1 ? names : [...names].reverse()) {
      const loadAtStart = load();
      const cpuAtStart = process.cpuUsage();
      const started = performance.now();
      await cases[name]!();
      const wallMs = performance.now() - started;
      const cpu = process.cpuUsage(cpuAtStart);
      const cpuMs = (cpu.user + cpu.system) / 1_000;
      timings[name]!.push({ wallMs, cpuMs });
      console.log(
        `  round ${round} ${name.padEnd(28)} ${wallMs.toFixed(0).padStart(6)} ms wall ` +
          `${cpuMs.toFixed(0).padStart(6)} ms CPU  (load ${loadAtStart})`,
      );
    }
  }
  return timings;
}

const wall = (timings: Timing[]) => median(timings.map((timing) => timing.wallMs));
const cpu = (timings: Timing[]) => median(timings.map((timing) => timing.cpuMs));

async function benchLiveCount(): Promise<boolean> {
  console.log(`\nlive count before the export: PostgreSQL, ${settings.tables} tables of ${ROWS_PER_TABLE} rows`);
  const database = await createDatabase(uniqueDatabaseName('bench_coverage'));
  const client = new pg.Client({ connectionString: databaseUrl(database) });
  await client.connect();
  await client.query(
    `DO $$ BEGIN FOR i IN 1..${settings.tables} LOOP ` +
      `EXECUTE format('CREATE TABLE t%s (id integer PRIMARY KEY, note text)', i); ` +
      `EXECUTE format('INSERT INTO t%s SELECT g, md5(g::text) FROM generate_series(1, ${ROWS_PER_TABLE}) g', i); ` +
      'END LOOP; END $$',
  );
  await client.end();
  const kube = await startFakeKubeApi({
    pods: [
      podFor(
        'db',
        'postgres',
        { POSTGRES_USER: 'postgres', POSTGRES_DB: database },
        { namespace: 'bench', labels: { 'app.kubernetes.io/instance': 'db', [DEFAULT_WORKSPACE_LABEL]: 'bench' } },
      ),
    ],
  });
  const clients = createKubeClients(kube.kubeConfig());
  const logger = createLogger({ level: 'warn' });
  const withCount = findRecipe('postgresql')!.dataExport!;
  const { liveTables: _left, ...withoutCount } = withCount;
  let wrongCount = false;
  const exportWith = (dataExport: typeof withCount, expected: number | null) => async () => {
    const result = await runDataExport(
      clients,
      {
        workspaceId: 'bench',
        namespace: 'bench',
        podSelector: null,
        deploymentName: 'db',
        dataExport,
        destination: new Writable({ write: (_chunk, _encoding, callback) => callback() }),
        timeoutMs: 600_000,
      },
      logger,
    );
    if (result.liveTableCount !== expected) {
      console.log(`  wrong live count: ${result.liveTableCount} (expected ${expected})`);
      wrongCount = true;
    }
  };
  try {
    const countAlone = async () => {
      const counted = await countLiveTables(
        clients.exec,
        {
          namespace: 'bench',
          pod: 'db-0',
          container: 'postgres',
          command: withCount.liveTables!.command,
          timeoutMs: 600_000,
          redact: (text) => text,
        },
        logger,
      );
      if (!counted.ok || counted.count !== settings.tables) {
        console.log(`  wrong live count: ${JSON.stringify(counted)} (expected ${settings.tables})`);
        wrongCount = true;
      }
    };
    const times = await interleaved({
      'export without the count': exportWith(withoutCount, null),
      'export with the count': exportWith(withCount, settings.tables),
      'the count alone': countAlone,
    });
    const without = wall(times['export without the count']!);
    const withIt = wall(times['export with the count']!);
    const added = withIt - without;
    console.log(
      `  medians: without ${without.toFixed(0)} ms, with ${withIt.toFixed(0)} ms: the count adds ${added.toFixed(0)} ms ` +
        `(target ≤ ${TARGET_COUNT_MS} ms) ${verdict(added <= TARGET_COUNT_MS)}; ${percent(withIt / without - 1)} ` +
        'of this small export',
    );
    console.log(
      `  the count alone (one exec, psql, the catalog query): median ${wall(times['the count alone']!).toFixed(0)} ms`,
    );
  } finally {
    await kube.close();
    await dropDatabase(database);
  }
  return !wrongCount;
}

/** A mysqldump-shaped file: per table a CREATE TABLE and long extended INSERT lines, up to `totalBytes`. */
function* mysqlDump(totalBytes: number, tables: number): Generator<Buffer> {
  const linesPerTable = Math.max(1, Math.floor(totalBytes / INSERT_LINE_BYTES / tables));
  // Rows of random hex (16 random bytes each): gzip gets them to about half, as it does real data.
  const rowsPerLine = Math.floor(INSERT_LINE_BYTES / 48);
  let written = 0;
  for (let table = 1; table <= tables; table += 1) {
    yield Buffer.from(
      `DROP TABLE IF EXISTS \`t${table}\`;\nCREATE TABLE \`t${table}\` (\n  \`id\` int(11) NOT NULL\n);\n`,
    );
    for (let line = 0; line < linesPerTable && written < totalBytes; line += 1) {
      const hex = randomBytes(16 * rowsPerLine).toString('hex');
      const rows = Array.from(
        { length: rowsPerLine },
        (_, index) => `(${index},'${hex.slice(index * 32, index * 32 + 32)}')`,
      );
      const text = `INSERT INTO \`t${table}\` VALUES ${rows.join(',')};\n`;
      written += text.length;
      yield Buffer.from(text);
    }
  }
  yield Buffer.from('-- Dump completed on 2026-12-03 12:00:00\n');
}

async function benchDumpCount(): Promise<boolean> {
  const folder = await mkdtemp(path.join(tmpdir(), 'bench-coverage-'));
  const file = path.join(folder, 'dump.sql.gz');
  try {
    await pipeline(
      Readable.from(mysqlDump(settings.sqlMiB * MIB, settings.tables)),
      createGzip(),
      createWriteStream(file),
    );
    const stored = (await stat(file)).size;
    console.log(
      `\ncounting the dump's tables in the MySQL format check: ${settings.sqlMiB} MiB of SQL, ${settings.tables} ` +
        `tables, ${(stored / MIB).toFixed(1)} MiB gzipped`,
    );
    let wrongCount = false;
    /** Time spent inside `SqlTableCounter.push` in each counting run (synchronous work: its wall time is its CPU). */
    const counterMs: number[] = [];
    const read = (count: boolean) => async () => {
      const tail = new ByteTail(4 * 1024);
      const counter = count ? new SqlTableCounter() : null;
      let inCounter = 0;
      await pipeline(openDecodedStream(file, { compression: 'gzip', encrypted: false }), async (chunks) => {
        for await (const chunk of chunks as AsyncIterable<Buffer>) {
          tail.push(chunk);
          if (!counter) continue;
          const started = performance.now();
          counter.push(chunk);
          inCounter += performance.now() - started;
        }
      });
      if (counter) counterMs.push(inCounter);
      if (counter && counter.finish() !== settings.tables) {
        console.log(`  wrong dump count (expected ${settings.tables})`);
        wrongCount = true;
      }
    };
    const times = await interleaved({ 'read, tail only': read(false), 'read, tail and table count': read(true) });
    const without = times['read, tail only']!;
    const withIt = times['read, tail and table count']!;
    const extra = median(counterMs) / cpu(without);
    console.log(
      `  medians: tail only ${cpu(without).toFixed(0)} ms CPU (${wall(without).toFixed(0)} ms wall), with the count ` +
        `${cpu(withIt).toFixed(0)} ms CPU (${wall(withIt).toFixed(0)} ms wall): ${percent(cpu(withIt) / cpu(without) - 1)} ` +
        'CPU, within the noise of a shared machine',
    );
    console.log(
      `  the counter itself: ${median(counterMs).toFixed(0)} ms (${((settings.sqlMiB / median(counterMs)) * 1_000).toFixed(0)} ` +
        `MiB/s), ${percent(extra)} of the read's CPU (target ≤ +${TARGET_EXTRA * 100}%) ${verdict(extra <= TARGET_EXTRA)}`,
    );
    return !wrongCount;
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}

console.log(
  `coverage bench: ${settings.runs} rounds, ${availableParallelism()} CPUs, load average ${loadavg()
    .map((value) => value.toFixed(2))
    .join(' ')}`,
);
const counted = (await benchLiveCount()) && (await benchDumpCount());
process.exit(counted ? 0 : 1);
