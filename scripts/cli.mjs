#!/usr/bin/env node
/**
 * Runs an operator command from its compiled JavaScript: `node scripts/cli.mjs backup list <id>` runs
 * `dist/cli/backup.js list <id>`, as `npm run backup -- …` does. Under tsx the same command spent seconds compiling
 * TypeScript and loading a loader before its first line; compiled, with Node's compile cache
 * (node_modules/.cache/node-compile) and the libraries a command does not use left unloaded, it starts in well under
 * a second (`npm run bench:cli`).
 *
 * When any file under src/ (the generated Prisma client included) is newer than the last build, it first compiles
 * them as `npm run build` does (tsc -p tsconfig.build.json, then the bundle of client-node; about 15 s, said on
 * stderr), so a command never runs stale code. A failed build exits 1 with tsc's errors.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import module from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const COMMANDS = { backup: 'dist/cli/backup.js', restore: 'dist/cli/restore.js', token: 'dist/cli/token.js' };
/** Written after each successful build; its mtime is the build's time. */
const STAMP = path.join(ROOT, 'dist', '.cli-build-stamp');

/** The newest mtime (ms) of the files under `folder` that the build compiles (src/app is Next.js's, not ours). */
function newestSource(folder) {
  let newest = 0;
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    const full = path.join(folder, entry.name);
    if (entry.isDirectory()) {
      if (full !== path.join(ROOT, 'src', 'app')) newest = Math.max(newest, newestSource(full));
    } else if (/\.(ts|js|mjs|json|wasm)$/.test(entry.name)) {
      newest = Math.max(newest, statSync(full).mtimeMs);
    }
  }
  return newest;
}

async function build() {
  console.error('cli: compiling src/ into dist/ (npm run build), once after each change …');
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = spawnSync(process.execPath, [tsc, '-p', path.join(ROOT, 'tsconfig.build.json')], {
    cwd: ROOT,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (result.status !== 0) {
    console.error(`cli: the build failed (tsc exited with ${result.status ?? result.signal})`);
    process.exit(1);
  }
  // Imported only here: esbuild is a build tool, which an image that runs the CLIs need not have.
  const { bundleClientNode } = await import('./bundle-client-node.mjs');
  await bundleClientNode(path.join(ROOT, 'dist'));
  writeFileSync(STAMP, `${new Date().toISOString()}\n`);
}

const [name, ...args] = process.argv.slice(2);
const entry = Object.hasOwn(COMMANDS, name ?? '') ? COMMANDS[name] : undefined;
if (!entry) {
  console.error(`usage: node scripts/cli.mjs <${Object.keys(COMMANDS).join('|')}> [arguments]`);
  process.exit(2);
}
const built = existsSync(STAMP) ? statSync(STAMP).mtimeMs : 0;
if (!existsSync(path.join(ROOT, entry)) || newestSource(path.join(ROOT, 'src')) > built) await build();
module.enableCompileCache?.(path.join(ROOT, 'node_modules', '.cache', 'node-compile'));
process.argv = [process.argv[0], path.join(ROOT, entry), ...args];
await import(pathToFileURL(path.join(ROOT, entry)).href);
