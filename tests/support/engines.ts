import { spawn } from 'node:child_process';
import { createServer } from 'node:net';

/** Runs a local command (a database client) and collects its output; rejects on a non-zero exit. */
export function runCommand(
  command: string,
  args: string[],
  options: { input?: Buffer | string; env?: NodeJS.ProcessEnv } = {},
): Promise<{ stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve({ stdout: Buffer.concat(stdout), stderr });
      else reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${stderr}`));
    });
    // A client that exits early (a failed restore) closes its stdin: the exit code reports that, not EPIPE.
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

/** SQL through the local MariaDB client as root over the socket. */
export async function mariadb(sql: string, database?: string): Promise<string> {
  const { stdout } = await runCommand('mariadb', [
    '-uroot',
    '--batch',
    '--skip-column-names',
    ...(database ? [database] : []),
    '-e',
    sql,
  ]);
  return stdout.toString('utf8').trim();
}

/** A command to the local Redis server (or another port). */
export async function redis(args: string[], port = 6379): Promise<string> {
  const { stdout } = await runCommand('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args]);
  return stdout.toString('utf8').trim();
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}
