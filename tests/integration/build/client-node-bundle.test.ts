import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { transform } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLE_PATH, bundleClientNode } from '../../../scripts/bundle-client-node.mjs';
import type { ClientNodeParts } from '../../../src/lib/kube/client-node.ts';
import { PROJECT_ROOT } from '../../support/processes.ts';

/**
 * The compiled `lib/kube/client-node.js` loads @kubernetes/client-node from the bundle the build writes next to it
 * (scripts/bundle-client-node.mjs), and says plainly when the bundle is missing. The module is compiled on its own
 * into a temporary `lib/kube/` (types stripped, as tsc emits it); the compiled worker's end-to-end test runs a whole
 * backup through the bundle.
 */
let compiled: string;

type ClientNodeModule = { loadClientNode(): ClientNodeParts };

async function importCompiled(copy: string): Promise<ClientNodeModule> {
  const source = await readFile(path.join(compiled, 'lib', 'kube', 'client-node.js'), 'utf8');
  const file = path.join(compiled, 'lib', 'kube', `${copy}.js`);
  await writeFile(file, source);
  return (await import(pathToFileURL(file).href)) as ClientNodeModule;
}

beforeAll(async () => {
  compiled = await mkdtemp(path.join(os.tmpdir(), 'client-node-bundle-'));
  await mkdir(path.join(compiled, 'lib', 'kube'), { recursive: true });
  await writeFile(path.join(compiled, 'package.json'), '{ "type": "module" }\n');
  const typescript = await readFile(path.join(PROJECT_ROOT, 'src', 'lib', 'kube', 'client-node.ts'), 'utf8');
  const { code } = await transform(typescript, { loader: 'ts', format: 'esm', target: 'node24' });
  await writeFile(path.join(compiled, 'lib', 'kube', 'client-node.js'), code);
});
afterAll(async () => {
  await rm(compiled, { recursive: true, force: true });
});

describe('the bundle of client-node', () => {
  it('is required by the compiled module, which names the build when it is missing', async () => {
    const { loadClientNode } = await importCompiled('without-bundle');
    expect(() => loadClientNode()).toThrow(/client-node\.bundle\.cjs is missing: the build writes it \(npm run build/);
  });

  it('holds every part the clients use, as classes of its own', async () => {
    const bundle = await bundleClientNode(compiled);
    expect(bundle).toBe(path.join(compiled, BUNDLE_PATH));
    const { loadClientNode } = await importCompiled('with-bundle');
    const parts = loadClientNode();
    for (const name of ['ApiException', 'CoreV1Api', 'Exec', 'KubeConfig', 'WebSocketHandler', 'WebSocket'] as const)
      expect(parts[name], name).toBeTypeOf('function');
    // Loaded from the bundle, not from node_modules: not the package's own classes.
    const fromPackage = createRequire(import.meta.url)('@kubernetes/client-node') as { KubeConfig: unknown };
    expect(parts.KubeConfig).not.toBe(fromPackage.KubeConfig);
    const kubeConfig = new parts.KubeConfig();
    kubeConfig.loadFromString(
      'apiVersion: v1\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]\n' +
        'contexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\nusers: [{name: u, user: {token: t}}]\n',
    );
    expect(kubeConfig.getCurrentCluster()?.server).toBe('https://127.0.0.1:6443');
    expect(kubeConfig.makeApiClient(parts.CoreV1Api)).toBeInstanceOf(parts.CoreV1Api);
  }, 60_000);
});
