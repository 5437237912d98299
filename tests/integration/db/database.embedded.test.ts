import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../../src/lib/db/database.ts';
import { readMigrations } from '../../../src/lib/db/migrations.ts';
import { createLogger } from '../../../src/lib/shared/logger.ts';
import { createDeployment, createWorkspace } from '../../support/factories.ts';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('embedded default database (no DATABASE_URL)', () => {
  it('creates, migrates and persists a PGlite database in the data folder', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'embedded-db-'));
    dirs.push(dir);
    const logger = createLogger({ level: 'silent' });
    const names = (await readMigrations()).map((m) => m.name);

    const first = await openDatabase({ embeddedDir: dir, logger });
    expect(first.kind).toBe('embedded');
    expect(first.migrations.applied).toEqual(names);
    const workspace = await createWorkspace(first.prisma);
    await createDeployment(first.prisma, workspace.id, { name: 'pg-main', backupSchedule: '0 3 * * *' });
    await first.close();

    const second = await openDatabase({ embeddedDir: dir, logger });
    expect(second.migrations).toEqual({ applied: [], alreadyApplied: names });
    const deployment = await second.prisma.deployment.findFirstOrThrow({ where: { name: 'pg-main' } });
    expect(deployment.backupSchedule).toBe('0 3 * * *');
    const duplicate = await createDeployment(second.prisma, workspace.id, { name: 'pg-main' }).catch((e: unknown) => e);
    expect((duplicate as { code?: string }).code).toBe('P2002');
    await second.close();
  });
});
