import { formatBytes, formatLateness } from '../shared/index.ts';
import { type BackupState, type DeploymentBackupState, PRUNE_SUGGESTION_THRESHOLD } from '../backups/index.ts';

function statusLine(d: DeploymentBackupState): string {
  const flags = [
    d.running ? `RUNNING since ${d.running.startedAt.toISOString()}` : null,
    d.overdue ? `OVERDUE by ${formatLateness(d.overdue.lateByMs)} (due ${d.overdue.since.toISOString()})` : null,
    d.failuresSinceLastSuccess > 0 ? `${d.failuresSinceLastSuccess} FAILED since last success` : null,
    d.decision.due ? 'DUE now' : `not due: ${d.decision.code}`,
  ].filter(Boolean);
  const failures = d.recentFailures.map(
    (f) => `    - failed ${f.startedAt.toISOString()} ${f.errorKind ?? ''}: ${f.error ?? ''}`,
  );
  return [
    `- ${d.workspaceSlug}/${d.name} id=${d.id} status=${d.status} recipe=${d.recipeSlug}${d.hasDataExport ? '' : ' (no dataExport)'}`,
    `  schedule: ${d.scheduleDescription}; next ${d.nextRunAt?.toISOString() ?? 'never'}; last success ${d.lastBackupAt?.toISOString() ?? 'never'}`,
    `  stored: ${d.storedBackups} backups, ${formatBytes(d.storedBytes)} (retention ${d.retention}); ${flags.join('; ')}`,
    ...failures,
  ].join('\n');
}

/**
 * The gathered state as compact text for the model: totals first, then one short block per deployment, problems
 * (running, overdue, failing, due) first.
 */
export function renderStateForModel(state: BackupState): string {
  const urgency = (d: DeploymentBackupState) =>
    d.overdue ? 0 : d.failuresSinceLastSuccess > 0 ? 1 : d.decision.due ? 2 : d.running ? 3 : 4;
  const ordered = [...state.deployments].sort((a, b) => urgency(a) - urgency(b) || a.name.localeCompare(b.name));
  const t = state.totals;
  const lines = [
    `Backup state at ${state.gatheredAt.toISOString()}:`,
    `${t.enabled} deployments with backups on; ${t.due} due, ${t.running} running, ${t.overdue} overdue, ${t.failing} failing; ` +
      `${t.storedBackups} backups stored (${formatBytes(t.storedBytes)}).`,
    state.volume
      ? `Backup volume: ${formatBytes(state.volume.usedBytes)} used, ${formatBytes(state.volume.freeBytes)} free of ${formatBytes(state.volume.totalBytes)}.`
      : 'Backup volume: usage unknown.',
    state.pruneSuggestions.length > 0
      ? `More than ${PRUNE_SUGGESTION_THRESHOLD} stored backups (suggest pruning): ${state.pruneSuggestions.map((p) => `${p.name} (${p.storedBackups}, id=${p.deploymentId})`).join(', ')}.`
      : `No deployment has more than ${PRUNE_SUGGESTION_THRESHOLD} stored backups.`,
    ...ordered.map(statusLine),
  ];
  return lines.join('\n');
}

/** The state as plain JSON data for the listBackupStatus tool (dates as ISO strings, sizes as strings). */
export function summarizeStateForTool(state: BackupState) {
  return {
    gatheredAt: state.gatheredAt.toISOString(),
    totals: { ...state.totals, storedBytes: state.totals.storedBytes.toString() },
    volume: state.volume && {
      totalBytes: state.volume.totalBytes.toString(),
      usedBytes: state.volume.usedBytes.toString(),
      freeBytes: state.volume.freeBytes.toString(),
    },
    pruneSuggestions: state.pruneSuggestions,
    deployments: state.deployments.map((d) => ({
      deploymentId: d.id,
      workspace: d.workspaceSlug,
      name: d.name,
      status: d.status,
      recipe: d.recipeSlug,
      hasDataExport: d.hasDataExport,
      schedule: d.schedule,
      scheduleDescription: d.scheduleDescription,
      lastBackupAt: d.lastBackupAt?.toISOString() ?? null,
      nextRunAt: d.nextRunAt?.toISOString() ?? null,
      due: d.decision.due,
      reason: d.decision.reason,
      ...(d.decision.due ? {} : { skipCode: d.decision.code }),
      overdue: d.overdue && { since: d.overdue.since.toISOString(), lateByMs: d.overdue.lateByMs },
      storedBackups: d.storedBackups,
      storedBytes: d.storedBytes.toString(),
      retention: d.retention,
      failuresSinceLastSuccess: d.failuresSinceLastSuccess,
      recentFailures: d.recentFailures.map((f) => ({
        backupId: f.id,
        startedAt: f.startedAt.toISOString(),
        errorKind: f.errorKind,
        error: f.error,
      })),
      running: d.running && {
        backupId: d.running.id,
        startedAt: d.running.startedAt.toISOString(),
        trigger: d.running.trigger,
      },
    })),
  };
}
