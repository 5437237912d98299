import { PRUNE_SUGGESTION_THRESHOLD, type DeploymentBackupState } from '../backups/index.ts';
import { UNTRUSTED_LIMITS, UNTRUSTED_TEXT_RULE, untrusted } from './untrusted-text.ts';
import type { WorkspaceState } from './workspace-state.ts';

const { name: NAME, message: MESSAGE } = UNTRUSTED_LIMITS;

/** Most urgent first: overdue, failing, due, running, the rest; then by id (names are the tenant's, ids are ours). */
function urgency(d: DeploymentBackupState): number {
  return d.overdue ? 0 : d.failuresSinceLastSuccess > 0 ? 1 : d.decision.due ? 2 : d.running ? 3 : 4;
}

/**
 * One workspace's state as JSON data for the model, for the turn's user message and the listBackupStatus tool alike.
 * Ids, statuses, codes, counts and times are ours; every string a tenant or a pod controls is `untrusted` (see
 * untrusted-text.ts): names, schedules, reasons and descriptions that quote them, errors, alert messages. Dates are
 * ISO strings and sizes decimal strings. Pure.
 */
export function describeStateForModel(state: WorkspaceState) {
  const { backups } = state;
  const ordered = [...backups.deployments].sort((a, b) => urgency(a) - urgency(b) || (a.id < b.id ? -1 : 1));
  return {
    workspace: { id: state.workspace.id, slug: untrusted(state.workspace.slug, NAME) },
    gatheredAt: backups.gatheredAt.toISOString(),
    totals: { ...backups.totals, storedBytes: backups.totals.storedBytes.toString() },
    volume: backups.volume && {
      totalBytes: backups.volume.totalBytes.toString(),
      usedBytes: backups.volume.usedBytes.toString(),
      freeBytes: backups.volume.freeBytes.toString(),
    },
    pruneSuggestionThreshold: PRUNE_SUGGESTION_THRESHOLD,
    pruneSuggestions: backups.pruneSuggestions.map(({ deploymentId, storedBackups, retention }) => ({
      deploymentId,
      storedBackups,
      retention,
    })),
    deployments: ordered.map((d) => ({
      deploymentId: d.id,
      name: untrusted(d.name, NAME),
      status: d.status,
      recipe: untrusted(d.recipeSlug, NAME),
      hasDataExport: d.hasDataExport,
      schedule: untrusted(d.schedule, NAME),
      scheduleDescription: untrusted(d.scheduleDescription, MESSAGE),
      lastBackupAt: d.lastBackupAt?.toISOString() ?? null,
      nextRunAt: d.nextRunAt?.toISOString() ?? null,
      due: d.decision.due,
      ...(d.decision.due ? {} : { skipCode: d.decision.code }),
      reason: untrusted(d.decision.reason, MESSAGE),
      overdue: d.overdue && { since: d.overdue.since.toISOString(), lateByMs: d.overdue.lateByMs },
      storedBackups: d.storedBackups,
      storedBytes: d.storedBytes.toString(),
      retention: d.retention,
      failuresSinceLastSuccess: d.failuresSinceLastSuccess,
      recentFailures: d.recentFailures.map((f) => ({
        backupId: f.id,
        startedAt: f.startedAt.toISOString(),
        errorKind: f.errorKind,
        error: untrusted(f.error, MESSAGE),
      })),
      running: d.running && {
        backupId: d.running.id,
        startedAt: d.running.startedAt.toISOString(),
        trigger: d.running.trigger,
      },
    })),
    openAlerts: state.openAlerts.map((alert) => ({
      deploymentId: alert.deploymentId,
      kind: alert.kind,
      severity: alert.severity,
      occurrences: alert.occurrences,
      since: alert.createdAt.toISOString(),
      lastSeenAt: alert.lastSeenAt.toISOString(),
      message: untrusted(alert.message, MESSAGE),
    })),
  };
}

/**
 * The user message of a workspace's turn: what to do, the rule about untrusted text, and the state as one line of
 * JSON (so no untrusted value can start a line of its own).
 */
export function buildStateMessage(state: WorkspaceState): string {
  return [
    `Review the backups of workspace ${state.workspace.id} described below, act with your tools where needed, and report.`,
    UNTRUSTED_TEXT_RULE,
    'Backup state (JSON):',
    JSON.stringify(describeStateForModel(state)),
  ].join('\n');
}
