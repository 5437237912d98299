import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { freePort } from './engines.ts';
import { childEnvironment, PROJECT_ROOT } from './processes.ts';

/** The built dashboard's marker: `npm run build:web` (part of `npm test`) writes it. */
export const BUILD_ID = path.join(PROJECT_ROOT, '.next', 'BUILD_ID');
const TSC_BIN = path.join(PROJECT_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
/** Compiles src/web-server.ts (and its imports) with `npm run build`'s options into dist/. */
const WEB_SERVER_TSCONFIG = path.join(PROJECT_ROOT, 'tests', 'e2e', 'web', 'web-server.tsconfig.json');
const PACKAGE_JSON = path.join(PROJECT_ROOT, 'package.json');
const SERVER_START_MS = 30_000;

/** The dashboard served as production serves it, in a process of its own. */
export interface WebServer {
  url: string;
  process: ChildProcessWithoutNullStreams;
  output(): string;
  /** SIGTERM, then resolves with the exit code (or signal) once it has exited. */
  stop(): Promise<number | string>;
}

/**
 * `npm run start:web`'s command (`VAR=value … node [--flag …] <entry>`, read from package.json) on a free port with
 * `env`, its entry compiled first; resolves once it answers. Needs the built dashboard (`npm run build:web`).
 */
export async function startWebServer(env: Record<string, string>): Promise<WebServer> {
  if (!existsSync(BUILD_ID)) {
    throw new Error(
      `the dashboard is not built (${BUILD_ID} is missing): run \`npm run build:web\` first (\`npm test\` does)`,
    );
  }
  const command = await readStartWebCommand();
  await compileWebServer();
  const port = await freePort();
  const server = spawn(
    process.execPath,
    [...command.argv.slice(1), '--port', String(port), '--hostname', '127.0.0.1'],
    {
      cwd: PROJECT_ROOT,
      env: childEnvironment({
        ...command.environment,
        // As in production: the server would set it itself, but the test runner's own NODE_ENV (test) is inherited.
        NODE_ENV: 'production',
        ...env,
      }),
    },
  );
  let output = '';
  server.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  server.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = new Promise<number | string>((resolve) =>
    server.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  );
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + SERVER_START_MS;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`the web server exited with ${server.exitCode}:\n${output}`);
    const answered = await fetch(`${url}/login`).then(
      (response) => response.ok,
      () => false,
    );
    if (answered) {
      return {
        url,
        process: server,
        output: () => output,
        async stop() {
          if (server.exitCode === null && server.signalCode === null) server.kill('SIGTERM');
          return exited;
        },
      };
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  server.kill('SIGKILL');
  throw new Error(`the web server did not answer within ${SERVER_START_MS} ms:\n${output}`);
}

/** `npm run start:web`'s command: its variables, and its argv from `node` on (V8 flags, then the entry). */
export interface StartWebCommand {
  environment: Record<string, string>;
  argv: string[];
}

/** Reads `start:web` from package.json; it must be `VAR=value … node [--flag …] <entry>`. */
export async function readStartWebCommand(): Promise<StartWebCommand> {
  const script = JSON.parse(await readFile(PACKAGE_JSON, 'utf8')).scripts['start:web'] as string;
  const command = /^((?:[A-Z_]+=\S+ )*)(node (?:--\S+ )*\S+)$/.exec(script);
  if (!command) throw new Error(`start:web is not "VAR=value … node [--flag …] <entry>": ${script}`);
  const [, assignments = '', argv = ''] = command;
  return {
    environment: Object.fromEntries(
      assignments
        .trim()
        .split(/\s+/)
        .filter(Boolean)
        .map((pair) => pair.split('=', 2) as [string, string]),
    ),
    argv: argv.split(' '),
  };
}

/** `tsc -p tests/e2e/web/web-server.tsconfig.json`: dist/web-server.js as `npm run build` writes it. */
async function compileWebServer(): Promise<void> {
  const tsc = spawn(process.execPath, [TSC_BIN, '-p', WEB_SERVER_TSCONFIG], { cwd: PROJECT_ROOT });
  let output = '';
  tsc.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  tsc.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const code = await new Promise<number | null>((resolve) => tsc.on('exit', resolve));
  if (code !== 0) throw new Error(`compiling src/web-server.ts failed (${code}):\n${output}`);
}
