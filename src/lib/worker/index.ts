export { emptyJobTally, type JobTally, runBackupJob, startJobRunners } from './job-runners.ts';
export { type CycleSummary, type LoopDependencies, runCycle, runLoop, runOnce, shutdownInterruption } from './loop.ts';
