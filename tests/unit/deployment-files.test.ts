import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { configSchema } from '../../src/lib/runtime/config.ts';
import { PROJECT_ROOT } from '../support/processes.ts';
import { readStartWebCommand } from '../support/web-server.ts';

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

  it('runs the dashboard beside the worker on the same backups volume, and checks the worker through /healthz', async () => {
    const compose = parse(await read('docker-compose.local.yml')) as { services: Record<string, ComposeService> };
    const { web, worker } = compose.services;
    expect(web?.build?.dockerfile).toBe('Dockerfile.web');
    expect(web?.volumes).toContain('backups:/backups');
    expect(web?.depends_on?.postgres?.condition).toBe('service_healthy');
    expect(web?.environment?.DATABASE_URL).toBe(worker?.environment?.DATABASE_URL);
    expect(worker?.healthcheck?.test.join(' ')).toContain('http://127.0.0.1:8080/healthz');
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
    expect(final).toContain('CMD ["node", "--initial-old-space-size=64", "dist/worker.js"]');
  });
});

describe('Dockerfile.web', () => {
  it('builds the dashboard and our server, installs only production dependencies in the final stage, runs as non-root', async () => {
    const dockerfile = await read('Dockerfile.web');
    const stages = dockerfile.split(/^FROM /m).slice(1);
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(dockerfile).toContain('RUN npm run build && npm run build:web');
    const final = stages.at(-1) ?? '';
    expect(final).toContain('npm ci --omit=dev');
    expect(final).toContain('COPY --from=build /app/dist ./dist');
    expect(final).toContain('COPY --from=build /app/.next ./.next');
    expect(final).toMatch(/^USER node$/m);
    expect(final).toMatch(/^EXPOSE 3000$/m);
  });

  it('starts the server as `npm run start:web` does: the same node argv (V8 flags included) and variables', async () => {
    const dockerfile = await read('Dockerfile.web');
    const final = dockerfile.split(/^FROM /m).at(-1) ?? '';
    const cmd = /^CMD (\[.*\])$/m.exec(final)?.[1];
    const startWeb = await readStartWebCommand();
    expect(startWeb.argv.at(-1)).toBe('dist/web-server.js');
    expect(JSON.parse(cmd ?? 'null')).toEqual(startWeb.argv);
    for (const [name, value] of Object.entries(startWeb.environment)) expect(final).toContain(`${name}=${value}`);
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
