import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A child process running one of our TypeScript entry points, with its output collected as it arrives. */
export interface RunningProcess {
  child: ChildProcessWithoutNullStreams;
  output(): string;
  /** Resolves when the combined output matches `pattern`; rejects if the process exits first or after `timeoutMs`. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Resolves with the exit code (or the signal name) once the process has exited. */
  exited: Promise<number | string>;
}

/** Starts `node --import tsx <entry> ...args` in the project root with the given environment. */
export function startEntryPoint(entry: string, args: string[], env: NodeJS.ProcessEnv): RunningProcess {
  return startNode(['--import', 'tsx', entry, ...args], env, PROJECT_ROOT);
}

/** Starts `node <args>` in `cwd`: a compiled entry point, as an image runs it (`node dist/worker.js`). */
export function startNode(args: string[], env: NodeJS.ProcessEnv, cwd: string): RunningProcess {
  const child = spawn(process.execPath, args, { cwd, env });
  let output = '';
  const listeners = new Set<() => void>();
  const collect = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    for (const listener of listeners) listener();
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => {
      for (const listener of listeners) listener();
      resolve(code ?? signal ?? 'unknown');
    });
  });
  return {
    child,
    output: () => output,
    exited,
    waitForOutput(pattern, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => done(new Error(`timed out waiting for ${pattern}; output so far:\n${output}`)),
          timeoutMs,
        );
        const check = () => {
          if (pattern.test(output)) done();
          else if (child.exitCode !== null || child.signalCode !== null) {
            done(new Error(`process exited before ${pattern}; output:\n${output}`));
          }
        };
        function done(error?: Error) {
          clearTimeout(timer);
          listeners.delete(check);
          if (error) reject(error);
          else resolve();
        }
        listeners.add(check);
        check();
      });
    },
  };
}

/**
 * The environment a child process gets: this one minus everything our config reads, plus `overrides`. A worker's
 * health server takes any free port on loopback, so workers started side by side never compete for one.
 */
export function childEnvironment(overrides: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'info', HEALTH_PORT: '0', HEALTH_HOST: '127.0.0.1' };
  for (const key of ['DATABASE_URL', 'EMBEDDED_DATABASE_DIR', 'BACKUP_ROOT', 'KUBECONFIG', 'KUBERNETES_SERVICE_HOST'])
    delete env[key];
  return { ...env, ...overrides };
}
