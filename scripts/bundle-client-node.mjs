#!/usr/bin/env node
/**
 * Bundles the parts of @kubernetes/client-node the compiled worker and CLIs use (and the `ws` they share) into one
 * CommonJS file next to the compiled `lib/kube/client-node.js`, which loads it (src/lib/kube/client-node.ts):
 *
 *   node scripts/bundle-client-node.mjs dist      # part of `npm run build`; writes dist/lib/kube/client-node.bundle.cjs
 *
 * Loaded from its package, client-node's index links about a thousand ES modules (the whole generated Kubernetes API):
 * 0.3-0.4 s of CPU at each start of a process, a tenth of what a 1 GiB backup costs. The same code as one file loads in
 * about 0.1 s (`npm run bench:backup` prints the whole-process figures). The TypeScript source (tsx, vitest) loads the
 * packages themselves.
 */
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Where the bundle goes under a compiled `src` folder (`dist` for `npm run build`). */
export const BUNDLE_PATH = path.join('lib', 'kube', 'client-node.bundle.cjs');

/** What the bundle exports: `ClientNodeParts` in src/lib/kube/client-node.ts, which must list the same names. */
const ENTRY = `
export { ApiException, CoreV1Api, Exec, KubeConfig } from '@kubernetes/client-node';
export { WebSocketHandler } from '@kubernetes/client-node/dist/web-socket-handler.js';
export { WebSocket } from 'ws';
`;

/**
 * Resolves every import as esbuild would, and marks client-node's own files free of side effects (its package.json
 * does not say so), so that what the entry does not reach is left out.
 */
const clientNodeHasNoSideEffects = {
  name: 'client-node-has-no-side-effects',
  setup(builder) {
    builder.onResolve({ filter: /.*/ }, async (args) => {
      if (args.pluginData === 'resolving') return undefined;
      const { importer, namespace, resolveDir, kind, with: attributes } = args;
      const resolved = await builder.resolve(args.path, {
        importer,
        namespace,
        resolveDir,
        kind,
        with: attributes,
        pluginData: 'resolving',
      });
      if (resolved.errors.length > 0 || !/[\\/]node_modules[\\/]@kubernetes[\\/]client-node[\\/]/.test(resolved.path))
        return undefined;
      return { path: resolved.path, sideEffects: false };
    });
  },
};

/** Writes the bundle under `compiledSource` (the folder `src` was compiled into); returns its path. */
export async function bundleClientNode(compiledSource) {
  const outfile = path.join(compiledSource, BUNDLE_PATH);
  await build({
    stdin: { contents: ENTRY, resolveDir: ROOT, sourcefile: 'client-node-entry.mjs', loader: 'js' },
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node24',
    outfile,
    // Names and lines stay readable in stack traces; only blanks and dead code go.
    minifyWhitespace: true,
    minifySyntax: true,
    // ws's optional native helpers (bufferutil, utf-8-validate) are required in a try/catch: absent, as in
    // node_modules today, ws uses its JavaScript code.
    external: ['bufferutil', 'utf-8-validate'],
    // The packages' license notices, kept at the end of the file.
    legalComments: 'eof',
    logLevel: 'warning',
    plugins: [clientNodeHasNoSideEffects],
  });
  return outfile;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [compiledSource] = process.argv.slice(2);
  if (!compiledSource) {
    console.error('usage: node scripts/bundle-client-node.mjs <the folder src was compiled into, e.g. dist>');
    process.exit(2);
  }
  await bundleClientNode(path.resolve(compiledSource));
}
