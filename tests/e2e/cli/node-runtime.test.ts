import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../support/processes.ts';

const execFileAsync = promisify(execFile);
const REQUIRED_MAJOR = 24;
const OLD_NODE_VERSION = 'v20.20.2';
const CHECK_SCRIPT = 'scripts/check-node-version.mjs';

const read = (name: string) => readFile(path.join(PROJECT_ROOT, name), 'utf8');

/** Runs the version check under this Node.js, loaded with `preload` first; resolves with its exit code and stderr. */
async function runVersionCheck(preload?: string): Promise<{ code: number; stderr: string }> {
  const args = preload === undefined ? [CHECK_SCRIPT] : ['--import', `data:text/javascript,${preload}`, CHECK_SCRIPT];
  try {
    const { stderr } = await execFileAsync(process.execPath, args, { cwd: PROJECT_ROOT });
    return { code: 0, stderr };
  } catch (error) {
    const failed = error as { code: number; stderr: string };
    return { code: failed.code, stderr: failed.stderr };
  }
}

/** The README's commands on a machine whose `node` is older than Node.js 24 (the runtime of CI and the image). */
describe('Node.js version check', () => {
  it('lets this Node.js through silently', async () => {
    expect(await runVersionCheck()).toEqual({ code: 0, stderr: '' });
  });

  it('stops an older Node.js with one line naming the version, what is needed and the bootstrap script', async () => {
    const result = await runVersionCheck(`Object.defineProperty(process, "version", { value: "${OLD_NODE_VERSION}" })`);
    expect(result.code).toBe(1);
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`needs Node.js ${REQUIRED_MAJOR} or newer; this is Node.js ${OLD_NODE_VERSION}`);
    expect(lines[0]).toContain('export PATH="$(bash scripts/node24.sh):$PATH"');
  });

  it('runs in npm ci (preinstall, after npm has installed the dependencies), npm test and npm run demo', async () => {
    const { engines, scripts } = JSON.parse(await read('package.json')) as {
      engines: { node: string };
      scripts: Record<string, string>;
    };
    expect(engines.node).toBe(`>=${REQUIRED_MAJOR}`);
    for (const hook of ['preinstall', 'pretest', 'predemo']) expect(scripts[hook], hook).toBe(`node ${CHECK_SCRIPT}`);
  });
});

describe('Node.js 24 everywhere', () => {
  it('the bootstrap script picks a node on PATH that is new enough, without installing anything', async () => {
    const nodeFolder = path.dirname(process.execPath);
    const { stdout, stderr } = await execFileAsync('bash', ['scripts/node24.sh'], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, PATH: `${nodeFolder}:/usr/bin:/bin` },
    });
    expect(stdout.trim()).toBe(nodeFolder);
    expect(stderr).toBe('');
  });

  it.each(['Dockerfile.worker', 'Dockerfile.web'])(
    'every stage of %s starts from node:24 on Debian bookworm',
    async (file) => {
      // `FROM deps AS build` starts from an earlier stage; every other stage names an image.
      const images = [...(await read(file)).matchAll(/^FROM (\S+:\S+)/gm)].map((match) => match[1]);
      expect(images).toEqual(['node:24-bookworm-slim', 'node:24-bookworm-slim']);
    },
  );
});
