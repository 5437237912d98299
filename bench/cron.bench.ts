/**
 * Benchmark of our cron module against croner (dev dependency) on realistic and nasty expressions.
 * Run with `npm run bench:cron`. Prints, per expression: operations per second of `nextFireTime` and
 * `shouldRunNow` for us and croner (croner: `nextRun` on a prepared job, and `nextRun(last) <= now`),
 * the worst single call of each, and the cost of a first call in a zone not used before.
 */
import { Cron } from 'croner';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { nextFireTime, parseCron, shouldRunNow } from '../src/lib/cron/cron.ts';

interface Case {
  expression: string;
  timezone: string;
}

const CASES: readonly Case[] = [
  { expression: '0 3 * * *', timezone: 'UTC' },
  { expression: '*/15 * * * *', timezone: 'UTC' },
  { expression: '0 */6 * * *', timezone: 'UTC' },
  { expression: '30 2 * * 1-5', timezone: 'UTC' },
  { expression: '@weekly', timezone: 'UTC' },
  { expression: '0 0 1 * *', timezone: 'UTC' },
  { expression: '0 0 29 2 *', timezone: 'UTC' },
  { expression: '59 23 31 12 *', timezone: 'UTC' },
  { expression: '*/7 */5 */3 * 1-5', timezone: 'UTC' },
  { expression: '0 0 13 * 5', timezone: 'UTC' },
  { expression: '0 12 29 2 */7', timezone: 'UTC' },
  { expression: '0 0 30 2 *', timezone: 'UTC' },
  { expression: '0 3 * * *', timezone: 'Europe/Berlin' },
  { expression: '30 2 * * *', timezone: 'America/New_York' },
  { expression: '*/15 * * * *', timezone: 'Australia/Lord_Howe' },
  { expression: '0 0 29 2 *', timezone: 'Pacific/Chatham' },
  { expression: '59 23 31 12 *', timezone: 'America/Sao_Paulo' },
  { expression: '*/7 */5 */3 * 1-5', timezone: 'Asia/Kolkata' },
];

const TIMED_CALLS = 4_000;
const WARMUP_CALLS = 2_000;
const FIRST_REFERENCE = Date.UTC(2020, 0, 1);
const REFERENCE_SPAN_MS = 10 * 365 * 86_400_000;
const HOUR_MS = 3_600_000;
/** A zone no other case uses, asked about the night it springs forward. */
const COLD_ZONE = 'America/Anchorage';
const COLD_REFERENCE = new Date('2026-03-08T09:00:00Z');

/** Deterministic reference instants spread over ten years (mulberry32). */
function referenceTimes(seed: number, count: number): Date[] {
  let state = seed;
  const random = (): number => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  return Array.from(
    { length: count },
    () => new Date(FIRST_REFERENCE + Math.floor((random() * REFERENCE_SPAN_MS) / 1000) * 1000),
  );
}

interface Measurement {
  perSecond: number;
  worstMicroseconds: number;
}

// A full garbage collection before each measurement, so that one library's garbage is not
// collected during the other's calls.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

/**
 * Throughput over all `times`, then the worst single call over a second, fresh set of times. Each of
 * those calls is timed twice in a row and the lower time kept, so that the operating system running
 * another process for a while does not count as a slow call; what empty caches cost is measured
 * separately by {@link measureColdCall}.
 */
function measure(call: (time: Date) => unknown, times: readonly Date[], worstTimes: readonly Date[]): Measurement {
  collectGarbage();
  const start = performance.now();
  for (const time of times) call(time);
  const perSecond = times.length / ((performance.now() - start) / 1000);
  collectGarbage();
  let worst = 0;
  for (const time of worstTimes) worst = Math.max(worst, Math.min(timeOneCall(call, time), timeOneCall(call, time)));
  return { perSecond, worstMicroseconds: worst * 1000 };
}

function timeOneCall(call: (time: Date) => unknown, time: Date): number {
  const start = performance.now();
  call(time);
  return performance.now() - start;
}

/** One call that has to create the zone's formatter and read its offsets from scratch. */
function measureColdCall(): number {
  const schedule = parseCron('30 2 * * *', { timezone: COLD_ZONE });
  const start = performance.now();
  nextFireTime(schedule, COLD_REFERENCE);
  return (performance.now() - start) * 1000;
}

function formatRate(perSecond: number): string {
  return perSecond >= 1e6 ? `${(perSecond / 1e6).toFixed(2)}M` : `${(perSecond / 1e3).toFixed(1)}k`;
}

interface Prepared {
  expression: string;
  timezone: string;
  calls: readonly [(time: Date) => unknown, (time: Date) => unknown, (time: Date) => unknown, (time: Date) => unknown];
}

/** Our nextFireTime, croner's nextRun, our shouldRunNow (from the string) and croner's equivalent. */
function prepare({ expression, timezone }: Case): Prepared {
  const schedule = parseCron(expression, { timezone });
  const reference = new Cron(expression, { timezone, mode: '5-part', domAndDow: false, fixedTimeRule: 'no-wildcard' });
  return {
    expression,
    timezone,
    calls: [
      (time) => nextFireTime(schedule, time),
      (time) => reference.nextRun(time),
      (time) => shouldRunNow(expression, time, new Date(time.getTime() + HOUR_MS), { timezone }),
      (time) => {
        const next = reference.nextRun(time);
        return next !== null && next.getTime() <= time.getTime() + HOUR_MS;
      },
    ],
  };
}

function run(): void {
  const prepared = CASES.map(prepare);
  // Warm up every code path of both libraries before anything is measured.
  const warmup = referenceTimes(1, WARMUP_CALLS);
  for (const { calls } of prepared) for (const call of calls) warmup.forEach(call);
  const rows: string[][] = [];
  let slowerSomewhere = false;
  let worstOverall = 0;
  prepared.forEach(({ expression, timezone, calls }, index) => {
    const times = referenceTimes(100 + index, TIMED_CALLS);
    const worstTimes = referenceTimes(200 + index, TIMED_CALLS);
    const [next, cronerNext, should, croner] = calls.map((call) => measure(call, times, worstTimes)) as [
      Measurement,
      Measurement,
      Measurement,
      Measurement,
    ];
    if (next.perSecond < cronerNext.perSecond || should.perSecond < croner.perSecond) slowerSomewhere = true;
    worstOverall = Math.max(worstOverall, next.worstMicroseconds, should.worstMicroseconds);
    rows.push([
      expression,
      timezone,
      formatRate(next.perSecond),
      formatRate(cronerNext.perSecond),
      `${(next.perSecond / cronerNext.perSecond).toFixed(1)}x`,
      formatRate(should.perSecond),
      formatRate(croner.perSecond),
      `${(should.perSecond / croner.perSecond).toFixed(1)}x`,
      Math.max(next.worstMicroseconds, should.worstMicroseconds).toFixed(0),
      Math.max(cronerNext.worstMicroseconds, croner.worstMicroseconds).toFixed(0),
    ]);
  });

  const header = [
    'expression',
    'zone',
    'next/s',
    'croner',
    'ratio',
    'shouldRunNow/s',
    'croner',
    'ratio',
    'worst µs',
    'croner worst µs',
  ];
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => (column < 2 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0)))
      .join('  ');
  console.log(
    `cron benchmark: ${TIMED_CALLS} calls per measurement, references over 2020-2029, node ${process.version}`,
  );
  console.log(line(header));
  for (const row of rows) console.log(line(row));
  const cold = measureColdCall();
  console.log(`first call in a zone not used before (formatter created, no offsets cached): ${cold.toFixed(0)} µs`);
  worstOverall = Math.max(worstOverall, cold);
  console.log(
    `${slowerSomewhere ? 'SLOWER than croner on some expression' : 'faster than croner on every expression'}; ` +
      `worst single call ${worstOverall.toFixed(0)} µs (${worstOverall < 1000 ? 'under' : 'OVER'} 1 ms)`,
  );
}

run();
