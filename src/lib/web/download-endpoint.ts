import type { PrismaClient } from '../../generated/prisma/client.ts';
import type { Logger } from '../shared/index.ts';
import { backupNotFound, findBackupForPrincipal, type RequestHead, requirePrincipal } from './api-auth.ts';
import { answerBackupFile, type BackupFileAnswer, type BackupFileRefusal, openBackupFile } from './backup-download.ts';
import { problem } from './http.ts';

/** What the download endpoint uses: the database, the backup volume's root, and a logger for refusals that are ours. */
export interface DownloadDependencies {
  db: PrismaClient;
  backupRoot: string;
  logger: Logger;
}

const REFUSAL_STATUS: Record<BackupFileRefusal, number> = {
  'not-succeeded': 409,
  'file-missing': 410,
  'volume-unavailable': 503,
  'outside-root': 500,
  'size-mismatch': 500,
};

/**
 * `GET|HEAD /api/backups/{id}/download`: the backup file (`Range: bytes=a-b` gives 206), with its sha256 in
 * `X-Backup-Sha256` and `Repr-Digest`, or the `Response` that refuses it. The one implementation of the endpoint: the
 * Next.js route sends the file as a web stream (`backupFileResponse`), our production server straight from the file
 * (src/lib/web/direct-routes.ts).
 */
export async function answerDownloadRequest(
  deps: DownloadDependencies,
  request: RequestHead,
  id: string,
  now: Date,
): Promise<BackupFileAnswer | Response> {
  const principal = await requirePrincipal(deps.db, request, now, 'read');
  if (principal instanceof Response) return principal;
  const record = await findBackupForPrincipal(deps.db, principal, id);
  if (!record) return backupNotFound(id);
  const opened = await openBackupFile(deps.backupRoot, record);
  if (!opened.ok) {
    const status = REFUSAL_STATUS[opened.reason];
    if (status >= 500)
      deps.logger.child({ module: 'web/download', backupId: id }).error({ reason: opened.reason }, opened.detail);
    return problem(status, opened.detail);
  }
  return answerBackupFile(opened, request);
}
