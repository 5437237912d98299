import { parseArgs } from 'node:util';
import { z } from 'zod';
import type { PrismaClient } from '../generated/prisma/client.ts';
import { openRuntime, readEnvironment, runMain } from '../lib/runtime/index.ts';
import { generateApiToken, recordIdSchema } from '../lib/shared/index.ts';
import {
  API_SCOPES,
  type ApiScope,
  lifetimeSchema,
  SCOPE_MEANINGS,
  scopeListSchema,
  tokenExpiry,
} from '../lib/web/index.ts';
import { parseArgument, UsageError } from './usage.ts';

const USAGE = `usage: npm run token -- <command>
  create <workspaceSlug> <name> --scope <scopes> [--expires <lifetime>]
                                   make a workspace API token (printed once; only its hash is stored)
      --scope read,operate,restore   what it may do (comma-separated, at least one):
${API_SCOPES.map((scope) => `          ${scope.padEnd(8)} ${SCOPE_MEANINGS[scope]}`).join('\n')}
      --expires 90d                  it stops working after this long (m, h or d); default: never
  list <workspaceSlug>             the workspace's tokens: id, prefix, name, scopes, created, expiry, last used, revoked
  revoke <tokenId>                 stop a token (and every dashboard session signed in with it) from working, at once
Exit codes: 0 done, 1 not found, 2 bad usage or configuration.`;

const slugSchema = z.string().min(1, { error: 'is required' }).max(100, { error: 'is too long' });
const nameSchema = z
  .string()
  .trim()
  .min(1, { error: 'is required' })
  .max(100, { error: 'must be at most 100 characters' });
const idSchema = recordIdSchema('must be a token id from `list` (lowercase letters and digits)');

/** `npm run token -- …`: API tokens for the dashboard and the HTTP API. Output on stdout; logs (JSON) on stderr. */
runMain(async () => {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { help: { type: 'boolean' }, scope: { type: 'string' }, expires: { type: 'string' } },
  });
  const [command, ...args] = positionals;
  if (values.help || !command) {
    process.stdout.write(`${USAGE}\n`);
    process.exitCode = command || values.help ? 0 : 2;
    return;
  }
  try {
    process.exitCode = await runCommand(command, args, { scope: values.scope, expires: values.expires });
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`token: ${error.message}\n${USAGE}\n`);
    process.exitCode = 2;
  }
});

async function runCommand(
  command: string,
  args: string[],
  options: { scope: string | undefined; expires: string | undefined },
): Promise<number> {
  if (!['create', 'list', 'revoke'].includes(command)) throw new UsageError(`unknown command "${command}"`);
  if (command !== 'create' && (options.scope !== undefined || options.expires !== undefined))
    throw new UsageError(`--scope and --expires belong to create, not ${command}`);
  const expected = command === 'create' ? 2 : 1;
  if (args.length !== expected) throw new UsageError(`${command} takes ${expected} argument(s), got ${args.length}`);
  const [first, second] = args;
  if (command === 'revoke') {
    const tokenId = parseArgument(idSchema, first ?? '', 'tokenId');
    return withDatabase((db) => revokeToken(db, tokenId, new Date()));
  }
  const slug = parseArgument(slugSchema, first ?? '', 'workspaceSlug');
  const name = command === 'create' ? parseArgument(nameSchema, second ?? '', 'name') : null;
  const scopes = command === 'create' ? parseArgument(scopeListSchema, options.scope, '--scope') : [];
  const lifetimeMs = options.expires === undefined ? null : parseArgument(lifetimeSchema, options.expires, '--expires');
  return withDatabase(async (db) => {
    const workspace = await db.workspace.findUnique({ where: { slug } });
    if (!workspace) {
      process.stderr.write(`token: workspace "${slug}" does not exist\n`);
      return 1;
    }
    return name === null
      ? listTokens(db, workspace)
      : createToken(db, workspace, { name, scopes, expiresAt: tokenExpiry(lifetimeMs, new Date()) });
  });
}

async function withDatabase(run: (db: PrismaClient) => Promise<number>): Promise<number> {
  const runtime = await openRuntime(readEnvironment(), 'token-cli', { logToStderr: true });
  try {
    return await run(runtime.database.prisma);
  } finally {
    await runtime.database.close();
  }
}

const out = (line: string) => process.stdout.write(`${line}\n`);

async function createToken(
  db: PrismaClient,
  workspace: { id: string; slug: string },
  { name, scopes, expiresAt }: { name: string; scopes: ApiScope[]; expiresAt: Date | null },
): Promise<number> {
  const { token, tokenHash, tokenPrefix } = generateApiToken();
  const created = await db.apiToken.create({
    data: { workspaceId: workspace.id, name, tokenHash, tokenPrefix, scopes, expiresAt },
  });
  const expiry = expiresAt ? `expires ${expiresAt.toISOString()}` : 'never expires';
  out(
    `Created API token "${name}" for workspace ${workspace.slug} (id ${created.id}; scopes ${scopes.join(',')}; ${expiry}):\n\n  ${token}\n`,
  );
  out('This is the only time the token is shown: only its hash is stored. Copy it now.');
  out('Use it as "Authorization: Bearer <token>" or sign in to the dashboard with it.');
  return 0;
}

async function listTokens(db: PrismaClient, workspace: { id: string; slug: string }): Promise<number> {
  const tokens = await db.apiToken.findMany({ where: { workspaceId: workspace.id }, orderBy: { createdAt: 'asc' } });
  const now = new Date();
  if (tokens.length === 0) out(`no API tokens for workspace ${workspace.slug}`);
  for (const t of tokens) {
    const lastUsed = t.lastUsedAt ? `last used ${t.lastUsedAt.toISOString()}` : 'never used';
    const state = t.revokedAt
      ? `REVOKED ${t.revokedAt.toISOString()}`
      : t.expiresAt && t.expiresAt <= now
        ? `EXPIRED ${t.expiresAt.toISOString()}`
        : t.expiresAt
          ? `active until ${t.expiresAt.toISOString()}`
          : 'active';
    out(
      `${t.id}  ${`${t.tokenPrefix}…`.padEnd(13)}  ${JSON.stringify(t.name)}  scopes ${t.scopes.join(',')}  created ${t.createdAt.toISOString()}  ${lastUsed}  ${state}`,
    );
  }
  return 0;
}

async function revokeToken(db: PrismaClient, tokenId: string, now: Date): Promise<number> {
  const stored = await db.apiToken.findUnique({ where: { id: tokenId }, include: { workspace: true } });
  if (!stored) {
    process.stderr.write(`token: API token "${tokenId}" does not exist\n`);
    return 1;
  }
  if (stored.revokedAt) {
    out(
      `token ${tokenId} ("${stored.name}", workspace ${stored.workspace.slug}) was already revoked at ${stored.revokedAt.toISOString()}`,
    );
    return 0;
  }
  // Its dashboard sessions end with it (they would fail anyway; this records when).
  await db.$transaction([
    db.apiToken.update({ where: { id: tokenId }, data: { revokedAt: now } }),
    db.session.updateMany({ where: { apiTokenId: tokenId, revokedAt: null }, data: { revokedAt: now } }),
  ]);
  out(`revoked token ${tokenId} ("${stored.name}", workspace ${stored.workspace.slug}): it no longer works`);
  return 0;
}
