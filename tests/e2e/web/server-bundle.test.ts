import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../support/processes.ts';
import { BUILD_ID } from '../../support/web-server.ts';

const SERVER_OUTPUT = path.join(PROJECT_ROOT, '.next', 'server');
/** A path only client-node's generated API carries (AppsV1Api); no code of ours names it. */
const GENERATED_API_MARKER = '/apis/apps/v1/namespaces/{namespace}/deployments';

/**
 * The web process never reaches the cluster (its Kubernetes clients refuse every call), so the built dashboard must
 * not carry @kubernetes/client-node: bundled, its generated API went into every server chunk (186 MB of .next/server
 * instead of 48 MB), each route loading it.
 */
describe('the built server bundle (.next/server)', () => {
  it('leaves @kubernetes/client-node out', async () => {
    expect(existsSync(BUILD_ID), `${BUILD_ID} is missing: run \`npm run build:web\` first (\`npm test\` does)`).toBe(
      true,
    );
    const files = (await readdir(SERVER_OUTPUT, { recursive: true })).filter((file) => file.endsWith('.js'));
    expect(files.length).toBeGreaterThan(0);
    const carrying: string[] = [];
    for (const file of files) {
      if ((await readFile(path.join(SERVER_OUTPUT, file), 'utf8')).includes(GENERATED_API_MARKER)) carrying.push(file);
    }
    expect(carrying).toEqual([]);
  });
});
