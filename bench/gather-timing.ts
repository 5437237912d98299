/**
 * Timing of the state gathering for `npm run bench:cycle`, in its process and in one started with the worker's V8
 * settings (`gather-client.ts`): a pg pool that counts and times the statements it sends, the timed passes of
 * `gatherBackupState` with the garbage-collection pauses in each, and the assembly alone.
 */
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../src/generated/prisma/client.ts';
import { createPgPool } from '../src/lib/db/pg-pool.ts';
import { poolQuery, type SqlQuery } from '../src/lib/db/sql-query.ts';
import { assembleBackupState, gatherBackupState, readBackupStateRows } from '../src/lib/backups/backup-state.ts';
import { median } from './measured-process.ts';

const WARM_UP_PASSES = 2;
const TIMED_PASSES = 5;
export const MINUTE_MS = 60_000;
export const OVERDUE_GRACE_MS = 60 * MINUTE_MS;
export const RETRY_DELAY_MS = 15 * MINUTE_MS;
/** Starts the line on which `gather-client.ts` prints its result (JSON). */
export const RESULT_PREFIX = 'gather-client result: ';

/**
 * A Prisma client, and the statements run without Prisma (as `Database.query` in the worker), on a pg pool whose
 * every connection counts (and times) the statements it sends.
 */
export interface CountingClient {
  url: string;
  prisma: PrismaClient;
  query: SqlQuery;
  statements: string[];
  /** Milliseconds from the first statement sent to the last answer received since the last reset. */
  sqlWallMs(): number;
  reset(): void;
  close(): Promise<void>;
}

export function countingClient(url: string): CountingClient {
  const statements: string[] = [];
  let firstSent = Infinity;
  let lastAnswered = -Infinity;
  // The bench drops its databases WITH (FORCE): a connection still open then is ended by the server (see createPgPool).
  const database = new URL(url).pathname.slice(1);
  const pool = createPgPool(url, (error) =>
    console.warn(`  (an idle connection to ${database} was closed: ${error.message})`),
  );
  pool.on('connect', (client) => {
    const send = client.query.bind(client) as (...args: unknown[]) => unknown;
    const answered = () => {
      lastAnswered = Math.max(lastAnswered, performance.now());
    };
    // pg.Pool#query calls client.query with a callback; Prisma's transactions call it for a promise.
    const counted = (...args: unknown[]): unknown => {
      const [config] = args;
      statements.push(typeof config === 'string' ? config : String((config as { text?: unknown }).text ?? '?'));
      firstSent = Math.min(firstSent, performance.now());
      const callback = args.at(-1);
      if (typeof callback === 'function') {
        return send(...args.slice(0, -1), (...results: unknown[]) => {
          answered();
          return callback(...results);
        });
      }
      const result = send(...args);
      return result instanceof Promise ? result.finally(answered) : result;
    };
    client.query = counted as typeof client.query;
  });
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
  return {
    url,
    prisma,
    query: poolQuery(pool),
    statements,
    sqlWallMs: () => lastAnswered - firstSent,
    reset() {
      statements.length = 0;
      firstSent = Infinity;
      lastAnswered = -Infinity;
    },
    async close() {
      await prisma.$disconnect();
      await pool.end().catch(() => undefined);
    },
  };
}

export interface GatherResult {
  medianMs: number;
  bestMs: number;
  sqlMs: number;
  statements: number;
  enabled: number;
  /** The assembly alone (pure, no SQL), on the rows of one read, once the passes above have run it: median ms. */
  assemblyMs: number;
  assemblyCpuMs: number;
  /** Garbage-collection pauses within a timed pass: median ms. */
  gcPausedMs: number;
  /**
   * The median of each timed pass's own in-memory time (whole less SQL). The target takes the median whole less the
   * median SQL, which can pair one pass's whole with another's SQL.
   */
  inMemoryPerPassMs: number;
}

const ASSEMBLY_PASSES = 21;

/**
 * Times `assembleBackupState` alone, on the rows of one read: the part of "in memory" that is the decisions, without
 * the SQL side, the row conversion and whatever the database's answers leave for the collector (its own garbage still
 * counts).
 */
async function benchAssembly(client: CountingClient): Promise<{ ms: number; cpuMs: number }> {
  const rows = await readBackupStateRows(client.prisma, { query: client.query });
  // The options as benchGather's passes give them (same fields, same order): an object of another shape here made
  // V8 drop the assembly's optimized code at its first read of them.
  const options = {
    now: new Date(),
    overdueGraceMs: OVERDUE_GRACE_MS,
    retryDelayMs: RETRY_DELAY_MS,
    query: client.query,
  };
  const walls: number[] = [];
  const cpus: number[] = [];
  for (let pass = 0; pass < ASSEMBLY_PASSES; pass += 1) {
    const cpuStarted = process.cpuUsage();
    const started = performance.now();
    assembleBackupState(rows.deployments, rows.records, rows.volume, options);
    walls.push(performance.now() - started);
    const cpu = process.cpuUsage(cpuStarted);
    cpus.push((cpu.user + cpu.system) / 1000);
  }
  return { ms: median(walls), cpuMs: median(cpus) };
}

/** Garbage-collection pauses of this process (start and duration, on the performance clock), as V8 reports them. */
function watchGcPauses(): { pausedMs(from: number, to: number): number; stop(): void } {
  const pauses: Array<{ start: number; duration: number }> = [];
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) pauses.push({ start: entry.startTime, duration: entry.duration });
  });
  observer.observe({ entryTypes: ['gc'] });
  return {
    pausedMs(from, to) {
      for (const entry of observer.takeRecords()) pauses.push({ start: entry.startTime, duration: entry.duration });
      return pauses
        .filter((pause) => pause.start >= from && pause.start < to)
        .reduce((sum, pause) => sum + pause.duration, 0);
    },
    stop: () => observer.disconnect(),
  };
}

/** Times `gatherBackupState` as the worker calls it: 2 warm-up passes, 5 timed; prints them under `label`. */
export async function benchGather(client: CountingClient, label: string): Promise<GatherResult> {
  const passes: Array<{ started: number; ms: number; sqlMs: number; statements: number; enabled: number }> = [];
  const gcPauses: number[] = [];
  const gc = watchGcPauses();
  try {
    for (let pass = 0; pass < WARM_UP_PASSES + TIMED_PASSES; pass += 1) {
      client.reset();
      const started = performance.now();
      const state = await gatherBackupState(client.prisma, {
        now: new Date(),
        overdueGraceMs: OVERDUE_GRACE_MS,
        retryDelayMs: RETRY_DELAY_MS,
        query: client.query,
      });
      const ms = performance.now() - started;
      if (pass >= WARM_UP_PASSES)
        passes.push({
          started,
          ms,
          sqlMs: client.sqlWallMs(),
          statements: client.statements.length,
          enabled: state.totals.enabled,
        });
    }
    // Observer entries arrive after the pause that made them: let them in before reading them.
    await new Promise((resolve) => setImmediate(resolve));
    const counts = new Set(passes.map((pass) => pass.statements));
    if (counts.size !== 1) throw new Error(`the statement count varied between passes: ${[...counts].join(', ')}`);
    for (const pass of passes) gcPauses.push(gc.pausedMs(pass.started, pass.started + pass.ms));
    const assembly = await benchAssembly(client);
    const result: GatherResult = {
      medianMs: median(passes.map((pass) => pass.ms)),
      bestMs: Math.min(...passes.map((pass) => pass.ms)),
      sqlMs: median(passes.map((pass) => pass.sqlMs)),
      statements: passes[0]!.statements,
      enabled: passes[0]!.enabled,
      assemblyMs: assembly.ms,
      assemblyCpuMs: assembly.cpuMs,
      gcPausedMs: median(gcPauses),
      inMemoryPerPassMs: median(passes.map((pass) => pass.ms - pass.sqlMs)),
    };
    console.log(
      `  gatherBackupState, ${label} (${result.enabled} backup-enabled): ` +
        `median ${result.medianMs.toFixed(1)} ms, best ${result.bestMs.toFixed(1)} ms ` +
        `(SQL ${result.sqlMs.toFixed(1)} ms, in memory ${(result.medianMs - result.sqlMs).toFixed(1)} ms), ${result.statements} SQL statements`,
    );
    // Each timed pass, for the spread: a garbage-collection pause (a scavenge copies every row still alive) lands in
    // whichever part of the pass is running, and explains most of the difference between passes.
    console.log(
      `    timed passes, whole / SQL / GC pauses (ms): ` +
        passes
          .map((pass, index) => `${pass.ms.toFixed(0)}/${pass.sqlMs.toFixed(0)}/${gcPauses[index]!.toFixed(0)}`)
          .join(', '),
    );
    console.log(
      `    assembly alone (decisions in memory, no SQL), median of ${ASSEMBLY_PASSES} passes on one read's rows: ` +
        `${result.assemblyMs.toFixed(1)} ms, ${result.assemblyCpuMs.toFixed(1)} ms of CPU`,
    );
    return result;
  } finally {
    gc.stop();
  }
}
