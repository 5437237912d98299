import {
  getWebContext,
  json,
  listRestoreHistory,
  parseSearchParams,
  problem,
  requireDeployment,
  restoreHistoryQuerySchema,
} from '../../../../../lib/web/index.ts';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

/**
 * A deployment's latest restores, newest first (`?limit=1-50`, default 10): destructive, scratch and test-restores
 * with who asked and confirmed, counts and errors, and for a PROPOSED one how to approve or confirm it. No token.
 */
export async function GET(request: Request, { params }: { params: Promise<{ id: string }> }): Promise<Response> {
  const { id } = await params;
  const db = (await getWebContext()).runtime.database.prisma;
  const now = new Date();
  const deployment = await requireDeployment(db, request, id, now, 'read');
  if (deployment instanceof Response) return deployment;
  const query = parseSearchParams(restoreHistoryQuerySchema, new URL(request.url).searchParams);
  if (!query.ok) return problem(400, query.message);
  return json({ items: await listRestoreHistory(db, deployment.id, query.value, now) });
}
