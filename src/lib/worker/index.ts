export { emptyJobTally, type JobTally, runBackupJob, startJobRunners } from './job-runners.ts';
export {
  type CycleObserver,
  type CycleSummary,
  type LoopDependencies,
  runCycle,
  runLoop,
  runOnce,
  shutdownInterruption,
} from './loop.ts';
