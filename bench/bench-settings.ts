/**
 * A benchmark's whole-number setting from the environment (`BENCH_RUNS=3 npm run bench:…`): `fallback` when unset
 * or empty; otherwise a positive safe integer, or an error naming the benchmark, the variable and what it got.
 */
export function positiveSetting(env: NodeJS.ProcessEnv, bench: string, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value <= 0)
    throw new Error(`${bench} bench: ${name} must be a positive integer (got ${JSON.stringify(raw)})`);
  return value;
}
