/**
 * The frame of the benchmarks that run clients against the fake Kubernetes API server (`bench:backup`,
 * `bench:restore`, `bench:ab`): a new temporary work directory and the server, hosted in this process; and on the way
 * out, after a failure or Ctrl-C too, the clients' process groups stopped, the server closed and the directory
 * removed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DEFAULT_WORKSPACE_LABEL } from '../src/lib/kube/index.ts';
import { startFakeKubeApi, type FakeKubeApi, type FakePod } from '../tests/support/fake-kube-api.ts';
import { stopRunningChildren } from './measured-process.ts';

export const BENCH_NAMESPACE = 'bench';
export const BENCH_DEPLOYMENT = 'bench-db';
export const BENCH_POD = 'bench-db-0';

/**
 * The pod the fake API server hosts for these benchmarks, with one ready container, labelled for workspace `bench`
 * (the one bench/backup-client.ts backs up for and bench/restore-client.ts restores for).
 */
export function benchPod(container: string): FakePod {
  return {
    namespace: BENCH_NAMESPACE,
    name: BENCH_POD,
    labels: { 'app.kubernetes.io/instance': BENCH_DEPLOYMENT, [DEFAULT_WORKSPACE_LABEL]: 'bench' },
    phase: 'Running',
    containers: [{ name: container, ready: true }],
  };
}

export interface BenchSession {
  /** Under the system's temporary directory, named after the benchmark (`backup-bench-…`). */
  workDirectory: string;
  api: FakeKubeApi;
}

/** Runs `body` in a session of benchmark `bench` ("backup", "restore", "ab") whose server hosts `pods`. */
export async function withBenchSession(
  bench: string,
  pods: FakePod[],
  body: (session: BenchSession) => Promise<void>,
): Promise<void> {
  const workDirectory = await mkdtemp(path.join(tmpdir(), `${bench}-bench-`));
  let api: FakeKubeApi | undefined;
  const interrupt = () => {
    console.error(`${bench} bench: interrupted, cleaning up`);
    process.exitCode = 130;
    stopRunningChildren();
  };
  process.once('SIGINT', interrupt);
  try {
    api = await startFakeKubeApi({ pods });
    await body({ workDirectory, api });
  } finally {
    process.off('SIGINT', interrupt);
    stopRunningChildren();
    await api?.close();
    await rm(workDirectory, { recursive: true, force: true });
  }
}

/** Runs a benchmark's `main`: a failure prints its message alone and exits 1 (130 stays after Ctrl-C). */
export function runBenchMain(main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode ||= 1;
  });
}
