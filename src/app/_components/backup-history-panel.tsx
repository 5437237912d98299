'use client';

import type { BackupHistoryItem } from '../../lib/web/index.ts';
import { BackupHistoryTable } from './backup-history-table.tsx';
import { BackupTrends } from './backup-trends.tsx';
import { useBackupHistory } from './use-backup-history.ts';

export interface BackupHistoryPanelProps {
  deploymentId: string;
  initialItems: BackupHistoryItem[];
  cursor: string | null;
  nextCursor: string | null;
  pageSize: number;
  /** Why "Back up now" cannot run (shown instead of the button), or null. */
  backupBlockedBy: string | null;
  /** Whether the session may start backups (its token has the operate scope); else the button is not shown. */
  canOperate: boolean;
  /** What an empty history means for this deployment, in words. */
  emptyMessage: string;
  /** Whether an off-site destination is configured (backups without an upload are then still to be copied). */
  offsiteEnabled: boolean;
}

/** The live part of a deployment's page: trends, "Back up now", and the history that follows a running backup. */
export function BackupHistoryPanel(props: BackupHistoryPanelProps) {
  const { deploymentId, cursor, nextCursor, backupBlockedBy, canOperate, emptyMessage, offsiteEnabled } = props;
  const history = useBackupHistory(props);
  const pagePath = `/deployments/${encodeURIComponent(deploymentId)}/backups`;
  return (
    <>
      <BackupTrends items={history.items} />
      <section className="card">
        <div className="toolbar">
          <h2>History</h2>
          {!canOperate ? (
            <span className="muted" data-missing-scope="operate">
              Starting backups needs a token with the operate scope.
            </span>
          ) : backupBlockedBy ? (
            <span className="muted">Back up now is unavailable: {backupBlockedBy}.</span>
          ) : (
            <button
              type="button"
              className="primary"
              onClick={() => void history.startBackup()}
              disabled={history.starting || history.running || history.queued !== null}
            >
              {history.starting
                ? 'Starting…'
                : history.running
                  ? 'Backup running…'
                  : history.queued
                    ? 'Backup queued…'
                    : 'Back up now'}
            </button>
          )}
        </div>
        {history.problem ? (
          <p className="notice bad" role="alert">
            {history.problem}
          </p>
        ) : null}
        {history.items.length === 0 && !history.queued ? (
          <p className="empty">{emptyMessage}</p>
        ) : (
          <BackupHistoryTable items={history.items} offsiteEnabled={offsiteEnabled} queued={history.queued} />
        )}
        {cursor || nextCursor ? (
          <nav className="pager" aria-label="History pages">
            {cursor ? <a href={pagePath}>Newest backups</a> : null}
            {nextCursor ? <a href={`${pagePath}?cursor=${encodeURIComponent(nextCursor)}`}>Older backups →</a> : null}
          </nav>
        ) : null}
      </section>
    </>
  );
}
