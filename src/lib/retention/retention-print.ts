import type { PruneReport } from './prune.ts';
import { describeRetentionPolicy } from './retention-policy.ts';
import type { DeleteReason } from './retention.ts';

const DELETE_REASON_WORDS: Record<DeleteReason, string> = {
  'max-age': 'older than the max age',
  'no-keep-rule': 'kept by no rule',
  'old-suspicious': 'suspicious (far smaller than the others), older than the kept backups',
  'old-failure': 'failed, older than the kept backups',
};

/**
 * Writes a prune report for people, one line each: the policy, every kept record with the rules that keep it, every
 * deletion with its reason (and off-site copies), problems, and a summary. Pure apart from `out`.
 */
export function printPrunePlan(report: PruneReport, out: (line: string) => void): void {
  out(`policy: ${describeRetentionPolicy(report.policy)}`);
  for (const kept of report.keep)
    out(`  keep    ${kept.startedAt}  ${kept.status.padEnd(9)}  ${kept.id}  ${kept.reasons.join(', ')}`);
  for (const pruned of report.pruned) {
    const copies = pruned.remoteCopies.map((copy) => `  + ${copy.destination}:${copy.objectKey}`).join('');
    const missing = pruned.fileWasMissing ? '  (file was already missing)' : '';
    out(
      `  delete  ${pruned.startedAt}  SUCCEEDED  ${pruned.id}  ${DELETE_REASON_WORDS[pruned.reason]}  ${pruned.path ?? '(no file)'}${copies}${missing}`,
    );
  }
  for (const failed of report.prunedFailedRecords)
    out(`  delete  ${failed.startedAt}  FAILED     ${failed.id}  ${DELETE_REASON_WORDS[failed.reason]}`);
  for (const problem of report.problems) out(`  NOT DELETED ${problem.id} ${problem.path ?? ''}: ${problem.reason}`);
  if (report.planChanged) {
    out(
      `the plan changed since it was confirmed; nothing was deleted (now also deletes: ${report.planChanged.unconfirmed.join(', ') || 'none'}; no longer deletes: ${report.planChanged.noLongerDeleted.join(', ') || 'none'})`,
    );
  }
  if (report.guard) {
    const how = report.guard.confirmed
      ? 'confirmed, so it ran'
      : 'nothing is deleted without --confirm (after checking the backups and the policy)';
    out(`the retention guard stops this prune: ${report.guard.reasons.join('; ')}; ${how}`);
  }
  const verb = report.dryRun ? 'would prune' : 'pruned';
  out(
    `${verb} ${report.pruned.length} backup(s) and ${report.prunedFailedRecords.length} failed record(s); ${report.kept} record(s) kept${!report.dryRun || report.planChanged ? '' : report.guard && !report.guard.confirmed ? ' (nothing deleted)' : ' (dry run: nothing deleted)'}`,
  );
}
