/**
 * The frame of the benchmarks that run clients against the fake Kubernetes API server (`bench:backup`,
 * `bench:restore`, `bench:ab`): a new temporary work directory and the server, hosted in this process; and on the way
 * out, after a failure or Ctrl-C too, the clients' process groups stopped, the server closed and the directory
 * removed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startFakeKubeApi, type FakeKubeApi, type FakePod } from '../tests/support/fake-kube-api.ts';
import { stopRunningChildren } from './measured-process.ts';

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
