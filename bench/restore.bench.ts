import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createKubeClients } from '../src/lib/kube/kube-clients.ts';
import { runDataImport } from '../src/lib/restore/data-import.ts';
import { createLogger } from '../src/lib/shared/logger.ts';
import { formatSidecar } from '../src/lib/storage/backup-path.ts';
import { startFakeKubeApi } from '../src/dev/local-cluster/fake-kube-api.ts';
import { DEFAULT_WORKSPACE_LABEL } from '../src/lib/kube/index.ts';

/**
 * Restore streaming: a file of SIZE_MB is sent through exec stdin (client-node → fake API server → a slow `sh` reader
 * in the "pod") and the worker's peak RSS is sampled every 100 ms. Without the bufferedAmount gate the whole file
 * would queue in the WebSocket; with it, RSS stays flat whatever the size.
 */
const SIZE_MB = Number(process.env.SIZE_MB ?? 400);
const CHUNK = 1024 * 1024;

const folder = await mkdtemp(path.join(os.tmpdir(), 'restore-bench-'));
const file = path.join(folder, 'big.rdb');
const hash = createHash('sha256');
await pipeline(
  Readable.from(
    (function* () {
      for (let i = 0; i < SIZE_MB; i += 1) {
        const block = Buffer.alloc(CHUNK, i % 251);
        hash.update(block);
        yield block;
      }
    })(),
  ),
  createWriteStream(file),
);
const sha256 = hash.digest('hex');
await import('node:fs/promises').then((fs) => fs.writeFile(`${file}.sha256`, formatSidecar(sha256, 'big.rdb')));
const kube = await startFakeKubeApi({
  pods: [
    {
      namespace: 'apps',
      name: 'db-0',
      labels: { 'app.kubernetes.io/instance': 'db', [DEFAULT_WORKSPACE_LABEL]: 'bench' },
      phase: 'Running',
      containers: [{ name: 'db', ready: true, env: {} }],
    },
  ],
});
const base = process.memoryUsage().rss;
let peak = base;
const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 100);
const started = Date.now();
// The reader is slower than the network (dd with a small block size), so backpressure matters.
const result = await runDataImport(
  createKubeClients(kube.kubeConfig()),
  {
    workspaceId: 'bench',
    namespace: 'apps',
    podSelector: null,
    deploymentName: 'db',
    container: 'db',
    command: ['sh', '-c', process.env.READER ?? 'dd bs=4096 of=/dev/null 2>/dev/null; echo done'],
    source: { path: file, sha256, encoding: { compression: 'none', encrypted: false } },
    timeoutMs: 600_000,
  },
  createLogger({ level: 'silent' }),
);
clearInterval(sampler);
const seconds = (Date.now() - started) / 1000;
const MiB = 1024 * 1024;
process.stdout.write(
  `restore streaming: ${SIZE_MB} MB in ${seconds.toFixed(1)} s (${(SIZE_MB / seconds).toFixed(0)} MB/s), ` +
    `${(result.bytesSent / MiB).toFixed(0)} MiB sent, RSS before ${(base / MiB).toFixed(0)} MiB, peak ${(peak / MiB).toFixed(0)} MiB\n`,
);
await kube.close();
await rm(folder, { recursive: true, force: true });
