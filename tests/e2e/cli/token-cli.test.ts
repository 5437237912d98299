import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../../src/lib/shared/tokens.ts';
import { createWorkspace } from '../../support/factories.ts';
import { childEnvironment, startEntryPoint } from '../../support/processes.ts';
import { createTestDatabase, type TestDatabase } from '../../support/test-database.ts';

/**
 * `npm run token -- create|list|revoke` as separate processes against a database of its own: a token is made with the
 * scopes and lifetime asked for (only its hash stored), listed with them, and revoked together with its sessions;
 * bad scopes and lifetimes are refused with exit code 2 before anything is written.
 */
const CLI = 'src/cli/token.ts';
const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;

let database: TestDatabase;
let workspace: { id: string; slug: string };

beforeAll(async () => {
  database = await createTestDatabase();
  workspace = await createWorkspace(database.prisma);
});

afterAll(async () => {
  await database?.drop();
});

async function runCli(args: string[]): Promise<{ code: number | string; stdout: string; output: string }> {
  const cli = startEntryPoint(CLI, args, childEnvironment({ DATABASE_URL: database.url, LOG_LEVEL: 'warn' }));
  let stdout = '';
  cli.child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  const code = await cli.exited;
  return { code, stdout, output: cli.output() };
}

describe('npm run token', () => {
  it('create --scope read,operate --expires 90d: a token with those scopes that expires in 90 days', async () => {
    const before = Date.now();
    const created = await runCli(['create', workspace.slug, 'ci', '--scope', 'operate,read', '--expires', '90d']);
    expect(created.code, created.output).toBe(0);
    const token = /^ {2}(opsb_\S+)$/m.exec(created.stdout)?.[1];
    expect(token).toBeDefined();
    const stored = await database.prisma.apiToken.findUniqueOrThrow({ where: { tokenHash: hashToken(token!) } });
    expect(stored.scopes).toEqual(['read', 'operate']);
    expect(stored.expiresAt!.getTime()).toBeGreaterThanOrEqual(before + 90 * DAY_MS);
    expect(stored.expiresAt!.getTime()).toBeLessThan(Date.now() + 90 * DAY_MS + MINUTE_MS);
    expect(JSON.stringify(stored)).not.toContain(token);

    const listed = await runCli(['list', workspace.slug]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain(`${stored.id}`);
    expect(listed.stdout).toMatch(/scopes read,operate .* active until \d{4}-/);
  });

  it.each([
    [['create', 'any', 'ci'], /--scope is required/],
    [['create', 'any', 'ci', '--scope', 'read,admin'], /--scope must be a comma-separated list .*unknown: "admin"/],
    [
      ['create', 'any', 'ci', '--scope', 'read', '--expires', 'soon'],
      /--expires must be a number followed by m, h or d/,
    ],
    [['create', 'any', 'ci', '--scope', 'read', '--expires', '4000d'], /--expires must be at most 3650d/],
    [['list', 'any', '--scope', 'read'], /--scope and --expires belong to create/],
  ])('%j is refused with exit code 2', async (args, message) => {
    const tokensBefore = await database.prisma.apiToken.count();
    const refused = await runCli(args);
    expect(refused.code).toBe(2);
    expect(refused.output).toMatch(message);
    expect(await database.prisma.apiToken.count()).toBe(tokensBefore);
  });

  it('revoke ends the token and its sessions at once', async () => {
    const created = await runCli(['create', workspace.slug, 'dash', '--scope', 'read']);
    const token = /^ {2}(opsb_\S+)$/m.exec(created.stdout)![1]!;
    const stored = await database.prisma.apiToken.findUniqueOrThrow({ where: { tokenHash: hashToken(token) } });
    const now = new Date();
    await database.prisma.session.create({
      data: {
        secretHash: hashToken('opss_x'),
        workspaceId: workspace.id,
        apiTokenId: stored.id,
        lastSeenAt: now,
        expiresAt: new Date(now.getTime() + DAY_MS),
      },
    });
    const revoked = await runCli(['revoke', stored.id]);
    expect(revoked.code, revoked.output).toBe(0);
    expect((await database.prisma.apiToken.findUniqueOrThrow({ where: { id: stored.id } })).revokedAt).not.toBeNull();
    expect(await database.prisma.session.count({ where: { apiTokenId: stored.id, revokedAt: null } })).toBe(0);
  });
});
