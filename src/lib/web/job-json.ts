import type { JobState, JobView } from '../jobs/index.ts';

/** A queued job as the API shows it: what it is for, where it stands, never more of its data than ids. */
export interface JobJson {
  id: string;
  kind: string;
  state: JobState;
  attempts: number;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export function toJobJson(job: JobView): JobJson {
  return {
    id: job.id,
    kind: job.name,
    state: job.state,
    attempts: job.attempts,
    createdAt: job.createdAt.toISOString(),
    startedAt: job.startedAt?.toISOString() ?? null,
    finishedAt: job.finishedAt?.toISOString() ?? null,
  };
}
