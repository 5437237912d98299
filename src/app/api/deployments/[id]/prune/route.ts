import { z } from 'zod';
import {
  idsToDelete,
  InvalidRetentionError,
  pruneBackups,
  type PruneReport,
} from '../../../../../lib/retention/index.ts';
import {
  getWebContext,
  json,
  MAX_REQUEST_BYTES,
  parseJsonBytes,
  problem,
  readBoundedBody,
  requireDeployment,
} from '../../../../../lib/web/index.ts';
import { recordIdSchema } from '../../../../../lib/shared/index.ts';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

type Context = { params: Promise<{ id: string }> };

/** Most ids one confirmation may name: far above any real plan, a bound on what a request can make us hold. */
const MAX_CONFIRMED_IDS = 100_000;
/** Largest confirmation body: room for MAX_CONFIRMED_IDS ids of 25 characters, quoted and separated. */
const MAX_CONFIRMATION_BYTES = MAX_REQUEST_BYTES;

const confirmSchema = z
  .object({
    expectDelete: z
      .array(recordIdSchema('must hold record ids'), { error: 'must be the expectDelete list of the plan from GET' })
      .max(MAX_CONFIRMED_IDS)
      .describe('The ids the plan shown by GET deletes, exactly: the confirmation of that plan.'),
    confirm: z
      .boolean({ error: 'must be true or false' })
      .optional()
      .describe(
        'true: a person has checked the backups and goes ahead although the retention guard stops this plan (`plan.guard`).',
      ),
  })
  .strict();

/** The plan as the API shows it: the prune report plus the list to send back to confirm it. */
function planJson(report: PruneReport) {
  return { ...report, expectDelete: idsToDelete(report) };
}

/**
 * The retention plan of a deployment under its own policy, deleting nothing: every kept backup with the rules that
 * keep it, every deletion with its reason and off-site copies, and `expectDelete`, which POST takes to carry it out.
 */
export async function GET(request: Request, { params }: Context): Promise<Response> {
  const { id } = await params;
  const { runtime, backup } = await getWebContext();
  const db = runtime.database.prisma;
  const deployment = await requireDeployment(db, request, id, new Date(), 'read');
  if (deployment instanceof Response) return deployment;
  try {
    return json({ plan: planJson(await pruneBackups(backup, deployment.id, { dryRun: true })) });
  } catch (error) {
    if (error instanceof InvalidRetentionError)
      return problem(409, `the deployment's retention policy is invalid: ${error.details}`);
    throw error;
  }
}

/**
 * Carries out the plan the caller saw: the body is `{ "expectDelete": [...] }` from GET. If the plan deletes anything
 * else now (a new backup, a pin, a changed policy), nothing is deleted and the answer is 409 with the new plan to
 * review. A plan the retention guard stops (`plan.guard`: more than half of the successful backups, or the newest
 * backup failed or is suspicious) deletes nothing either (409) unless the body also says `"confirm": true`. Otherwise 200 with the report; a backup whose file or off-site copy could not be deleted is kept and listed
 * under `problems`.
 */
export async function POST(request: Request, { params }: Context): Promise<Response> {
  const { id } = await params;
  const { runtime, backup } = await getWebContext();
  const db = runtime.database.prisma;
  const deployment = await requireDeployment(db, request, id, new Date(), 'operate');
  if (deployment instanceof Response) return deployment;
  const type = request.headers.get('content-type')?.split(';')[0]?.trim().toLowerCase() ?? '';
  if (type !== 'application/json')
    return problem(415, `send {"expectDelete": [...]} as application/json (got content-type ${JSON.stringify(type)})`);
  const read = await readBoundedBody(request, MAX_CONFIRMATION_BYTES);
  if (!read.ok) return read.response;
  const body = parseJsonBytes(read.bytes);
  if (!body.ok) return problem(400, 'body must be JSON: {"expectDelete": [ids from GET /api/deployments/{id}/prune]}');
  const parsed = confirmSchema.safeParse(body.value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return problem(400, `${issue?.path.join('.') || 'body'} ${issue?.message ?? 'is invalid'}`);
  }
  try {
    const report = await pruneBackups(backup, deployment.id, {
      expectDelete: parsed.data.expectDelete,
      confirm: parsed.data.confirm ?? false,
    });
    if (report.planChanged) {
      return json(
        {
          error:
            'the retention plan changed since it was shown; nothing was deleted: review the new plan and confirm it',
          plan: planJson(report),
        },
        { status: 409 },
      );
    }
    if (report.guard && !report.guard.confirmed) {
      return json(
        {
          error: `the retention guard stopped this prune: ${report.guard.reasons.join('; ')}; nothing was deleted. Check the backups and the policy, then send "confirm": true to go ahead`,
          plan: planJson(report),
        },
        { status: 409 },
      );
    }
    return json({ report });
  } catch (error) {
    if (error instanceof InvalidRetentionError)
      return problem(409, `the deployment's retention policy is invalid: ${error.details}`);
    throw error;
  }
}
