import {
  type BackupFileRefusal,
  backupFileResponse,
  backupNotFound,
  findBackupForPrincipal,
  getWebContext,
  openBackupFile,
  problem,
  requirePrincipal,
} from '../../../../../lib/web/index.ts';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

const REFUSAL_STATUS: Record<BackupFileRefusal, number> = {
  'not-succeeded': 409,
  'file-missing': 410,
  'volume-unavailable': 503,
  'outside-root': 500,
  'size-mismatch': 500,
};

/** The backup file, streamed (`Range: bytes=a-b` gives 206), with its sha256 in `X-Backup-Sha256` and `Repr-Digest`. */
export async function GET(request: Request, { params }: { params: Promise<{ id: string }> }): Promise<Response> {
  const { id } = await params;
  const { runtime } = await getWebContext();
  const db = runtime.database.prisma;
  const principal = await requirePrincipal(db, request, new Date(), 'read');
  if (principal instanceof Response) return principal;
  const record = await findBackupForPrincipal(db, principal, id);
  if (!record) return backupNotFound(id);
  const opened = await openBackupFile(runtime.config.BACKUP_ROOT, record);
  if (!opened.ok) {
    const status = REFUSAL_STATUS[opened.reason];
    if (status >= 500)
      runtime.logger.child({ module: 'web/download', backupId: id }).error({ reason: opened.reason }, opened.detail);
    return problem(status, opened.detail);
  }
  return backupFileResponse(opened, request);
}

/** The download's headers (size, sha256) without its body. */
export const HEAD = GET;
