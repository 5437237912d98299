import type { RestoreRecord } from '../../generated/prisma/client.ts';
import { createProgressRecorder, releaseClaim, renewClaim } from '../backups/index.ts';
import type { Logger } from '../shared/index.ts';
import type { RestoreDependencies } from './restore-dependencies.ts';

/** A live restore's hold on its deployment (the same claim backups take). */
export interface RestoreClaim {
  deploymentId: string;
  token: string;
  ttlMs: number;
}

/** What a running restore holds while it runs, and how it lets go. */
export interface RestoreHold {
  /** Aborted when the deployment claim was lost (another process took it over): the restore must stop. */
  signal: AbortSignal;
  /** Bytes sent so far; written to the record every few seconds. */
  onProgress(bytesSent: number): void;
  /** Stops renewing, waits for a progress write in flight, releases the claim. Never throws. */
  release(): Promise<void>;
}

/**
 * Keeps a RUNNING restore visibly alive: its record's lease (`leaseExpiresAt`) is renewed every third of the lease,
 * with the deployment claim of a live restore; crash recovery fails a RUNNING restore whose lease lapsed, because
 * the process running it is gone. Progress goes to the record too, for the dashboard and the API.
 */
export function holdRestore(
  deps: RestoreDependencies,
  record: RestoreRecord,
  claim: RestoreClaim | null,
  log: Logger,
): RestoreHold {
  const leaseMs = deps.settings.claimTtlMs;
  const lost = new AbortController();
  const renew = async () => {
    const now = deps.clock();
    if (claim && !(await renewClaim(deps.db, { ...claim, now }))) {
      lost.abort(new Error('the deployment claim of this restore was lost; the restore was stopped'));
      return;
    }
    await deps.db.restoreRecord.updateMany({
      where: { id: record.id, status: 'RUNNING' },
      data: { leaseExpiresAt: new Date(now.getTime() + leaseMs) },
    });
  };
  const timer = setInterval(
    () => void renew().catch((error: unknown) => log.warn({ err: error }, 'could not renew the restore lease')),
    Math.max(1_000, Math.floor(leaseMs / 3)),
  );
  const progress = createProgressRecorder({
    write: (bytes, at) =>
      deps.db.restoreRecord.updateMany({
        where: { id: record.id, status: 'RUNNING' },
        data: { progressBytes: BigInt(bytes), progressAt: at },
      }),
    clock: deps.clock,
    logger: log,
  });
  return {
    signal: lost.signal,
    onProgress: (bytes) => progress.report(bytes),
    async release() {
      clearInterval(timer);
      await progress.settle();
      if (claim) {
        await releaseClaim(deps.db, claim).catch((error: unknown) =>
          log.warn({ err: error }, 'could not release the restore claim'),
        );
      }
    },
  };
}

/** When a lease taken now ends. */
export function leaseUntil(deps: RestoreDependencies, now: Date): Date {
  return new Date(now.getTime() + deps.settings.claimTtlMs);
}
