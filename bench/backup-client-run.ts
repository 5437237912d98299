/**
 * One run of our backup client (`bench/backup-client.ts`, compiled) as a measured child process against the fake
 * Kubernetes API server's bench pod: used by `npm run bench:backup` and by `npm run bench:ab`, which runs two
 * compilations of it side by side. Checks that the file it stored has the size it should and removes it.
 */
import { rm, stat } from 'node:fs/promises';
import type { FakeKubeApi } from '../tests/support/fake-kube-api.ts';
import { expectedStoredBytes } from './age-size.ts';
import type { ClientReport } from './backup-client.ts';
import { BENCH_DEPLOYMENT, BENCH_NAMESPACE } from './bench-session.ts';
import { runMeasured, type MeasuredRun, type MeasuringWrapper } from './measured-process.ts';

/** The bench pod's container (bench-session.ts's `benchPod`) that the backups exec in. */
export const BENCH_CONTAINER = 'dump';

export async function expectFileSize(filePath: string, bytes: number, who: string): Promise<void> {
  const { size } = await stat(filePath);
  if (size !== bytes) throw new Error(`backup bench: ${who} wrote ${size} bytes to ${filePath}, expected ${bytes}`);
}

export interface OurBackupRun {
  api: FakeKubeApi;
  wrap: MeasuringWrapper;
  /** node's arguments before the client's own: flags, then the compiled client (or tsx and the source). */
  entryPoint: string[];
  nodeOptions: string;
  bytes: number;
  storeRoot: string;
  /** Where the measuring wrapper writes its resource report. */
  reportPath: string;
  rateMiBPerSecond?: number;
  /** An argv prefix, such as `taskset -c 1`. */
  prefix?: string[];
  /** `age1…`: the client encrypts to it. */
  ageRecipient?: string;
  /** Set for the child only (a V8 CPU profile, say). */
  extraNodeOptions?: string;
}

/** Runs the client once; rejects when it fails or when what it stored is not the expected size. */
export async function runOurBackupClient(run: OurBackupRun): Promise<MeasuredRun & { report: ClientReport }> {
  const argv = [
    ...(run.prefix ?? []),
    process.execPath,
    ...run.entryPoint,
    '--kubeconfig',
    run.api.kubeconfigPath,
    '--namespace',
    BENCH_NAMESPACE,
    '--deployment',
    BENCH_DEPLOYMENT,
    '--container',
    BENCH_CONTAINER,
    '--bytes',
    String(run.bytes),
    '--root',
    run.storeRoot,
    ...(run.rateMiBPerSecond === undefined ? [] : ['--rate-mib-per-second', String(run.rateMiBPerSecond)]),
    ...(run.ageRecipient === undefined ? [] : ['--age-recipient', run.ageRecipient]),
  ];
  const nodeOptions = [run.nodeOptions, run.extraNodeOptions ?? ''].filter((part) => part !== '').join(' ');
  const { stdout, ...measured } = await runMeasured('backup', run.wrap, argv, run.reportPath, { nodeOptions });
  const report = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as ClientReport;
  await expectFileSize(report.path, expectedStoredBytes(run.bytes, run.ageRecipient !== undefined), 'our client');
  await rm(report.path);
  await rm(`${report.path}.sha256`);
  return { ...measured, report };
}
