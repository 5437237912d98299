export {
  approveRestore,
  cancelRestore,
  listRestores,
  type LiveRestorePlan,
  planLiveRestore,
  proposeLiveRestore,
  restoreBackup,
  type RestoreDependencies,
} from './restore-backup.ts';
export { RestoreRefusedError } from './restore-errors.ts';
export { restoreCountsSchema } from './test-restore-compare.ts';
export { isTestRestoreDue } from './test-restore-due.ts';
export { claimDueTestRestores, runDeploymentTestRestore, runTestRestorePass } from './test-restore-pass.ts';
export {
  failInterruptedRestore,
  queueLiveRestore,
  type QueuedRestoreOutcome,
  recoverInterruptedRestores,
  RestoreBusyError,
  runQueuedRestore,
} from './queued-restore.ts';
export { answerPlanRequest, type PlanAnswer, PlanUnansweredError, requestLivePlan } from './plan-request.ts';
