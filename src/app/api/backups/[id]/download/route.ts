import { answerDownloadRequest, backupFileResponse, getWebContext } from '../../../../../lib/web/index.ts';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

/** The backup file, streamed (`Range: bytes=a-b` gives 206), with its sha256 in `X-Backup-Sha256` and `Repr-Digest`. */
export async function GET(request: Request, { params }: { params: Promise<{ id: string }> }): Promise<Response> {
  const { id } = await params;
  const { runtime } = await getWebContext();
  const deps = { db: runtime.database.prisma, backupRoot: runtime.config.BACKUP_ROOT, logger: runtime.logger };
  const answer = await answerDownloadRequest(deps, request, id, new Date());
  return answer instanceof Response ? answer : backupFileResponse(answer);
}

/** The download's headers (size, sha256) without its body. */
export const HEAD = GET;
