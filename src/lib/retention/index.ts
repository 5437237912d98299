export { idsToDelete, pruneBackups, type PruneReport } from './prune.ts';
export { checkPruneGuard, type PruneGuardStop } from './prune-guard.ts';
export { setBackupPinned } from './retention-pin.ts';
export {
  type DeploymentRetentionColumns,
  describeRetentionPolicy,
  InvalidRetentionError,
  parseRetentionPolicy,
  type RetentionOverrides,
  retentionPolicyOf,
} from './retention-policy.ts';
export { printPrunePlan } from './retention-print.ts';
export { findTighterRules, type TighterRule } from './retention-tightening.ts';
