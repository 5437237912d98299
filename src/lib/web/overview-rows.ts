import { formatBytes } from '../shared/index.ts';
import { describeSpan, formatRelative } from './display.ts';
import type { LastBackupStatus, OverviewDeployment } from './overview.ts';

/**
 * One row of the overview's deployment table as it is shown: its words and numbers written already. The page hands
 * these to the table (a client component) instead of rendering each row's cells itself, so what it sends per row is
 * this small record, not the row's elements (the elements of 50 rows, written into the page's RSC payload and read
 * back to render the HTML, were about 60% of the server's CPU per overview request).
 */
export interface OverviewRow {
  id: string;
  name: string;
  recipeSlug: string;
  status: LastBackupStatus;
  /** When the last backup was, in words (`3 hours ago`); null when there is none. */
  lastBackupAgo: string | null;
  schedule: string;
  storedBytes: string;
  storedBackups: number;
  /** What needs attention, in words; empty for none. */
  notes: string[];
  /** The notes are about failures (shown as errors). */
  failing: boolean;
}

/** The rows of `deployments` as of `now` (pure). */
export function toOverviewRows(deployments: readonly OverviewDeployment[], now: Date): OverviewRow[] {
  return deployments.map((deployment) => ({
    id: deployment.id,
    name: deployment.name,
    recipeSlug: deployment.recipeSlug,
    status: deployment.lastBackup.status,
    lastBackupAgo: deployment.lastBackup.at ? formatRelative(deployment.lastBackup.at, now) : null,
    schedule: deployment.scheduleDescription,
    storedBytes: formatBytes(deployment.storedBytes),
    storedBackups: deployment.storedBackups,
    notes: attentionNotes(deployment),
    failing: deployment.failuresSinceLastSuccess > 0,
  }));
}

/** Why a deployment needs attention, in words: failures since the last success, lateness, what keeps it from running. */
function attentionNotes(deployment: OverviewDeployment): string[] {
  const notes: string[] = [];
  if (deployment.failuresSinceLastSuccess > 0) {
    const count = deployment.failuresSinceLastSuccess;
    notes.push(
      `${count} failed attempt${count === 1 ? '' : 's'} since the last success${deployment.lastBackup.error ? `: ${deployment.lastBackup.error}` : ''}`,
    );
  }
  if (deployment.overdue) notes.push(`overdue by ${describeSpan(deployment.overdue.lateByMs)}`);
  if (deployment.deploymentStatus !== 'RUNNING')
    notes.push(`deployment is ${deployment.deploymentStatus}: backups cannot run`);
  if (!deployment.scheduleValid) notes.push('the schedule cannot run');
  return notes;
}
