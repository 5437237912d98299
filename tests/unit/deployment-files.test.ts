import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { configSchema } from '../../src/lib/runtime/config.ts';
import { PROJECT_ROOT } from '../support/processes.ts';

const read = (name: string) => readFile(path.join(PROJECT_ROOT, name), 'utf8');

interface ComposeService {
  image?: string;
  build?: { dockerfile?: string };
  volumes?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
}

/** There is no Docker engine here: the files users run are checked by parsing them. */
describe('docker-compose.local.yml', () => {
  it('runs the worker with /backups on a named volume, after a healthy postgres', async () => {
    const compose = parse(await read('docker-compose.local.yml')) as {
      services: Record<string, ComposeService>;
      volumes: Record<string, unknown>;
    };
    const { worker, postgres } = compose.services;
    expect(postgres?.image).toMatch(/^postgres:/);
    expect(postgres?.healthcheck?.test.join(' ')).toContain('pg_isready');
    expect(worker?.build?.dockerfile).toBe('Dockerfile.worker');
    expect(worker?.depends_on?.postgres?.condition).toBe('service_healthy');
    expect(worker?.volumes).toContain('backups:/backups');
    expect(Object.keys(compose.volumes)).toContain('backups');
    expect(worker?.environment?.DATABASE_URL).toMatch(/@postgres:5432\//);
    expect(worker?.environment?.BACKUP_ROOT).toBe('/backups');
  });
});

describe('Dockerfile.worker', () => {
  it('is multi-stage, installs only production dependencies in the final stage, runs as non-root with a /backups volume', async () => {
    const dockerfile = await read('Dockerfile.worker');
    const stages = dockerfile.split(/^FROM /m).slice(1);
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const final = stages.at(-1) ?? '';
    expect(final).toContain('npm ci --omit=dev');
    expect(final).toMatch(/^USER node$/m);
    expect(final).toMatch(/^VOLUME \["\/backups"\]$/m);
    expect(final).toContain('CMD ["node", "dist/worker.js"]');
  });
});

describe('.env.example and README', () => {
  it('document every configuration variable', async () => {
    const example = await read('.env.example');
    const readme = await read('README.md');
    for (const key of Object.keys(configSchema.shape)) {
      expect(example, key).toMatch(new RegExp(`^#? ?${key}=`, 'm'));
      expect(readme, key).toContain(`\`${key}\``);
    }
  });
});
