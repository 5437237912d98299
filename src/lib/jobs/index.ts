export { JOB_NAMES, type JobData, type JobName, type JobSettings } from './job-definitions.ts';
export {
  type EnqueueOptions,
  type JobQueue,
  type JobState,
  type JobView,
  openJobQueue,
  type QueueStats,
  type RunningJob,
} from './job-queue.ts';
