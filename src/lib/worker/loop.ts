import { setTimeout as wait } from 'node:timers/promises';
import type { Logger } from '../shared/index.ts';
import {
  type AlertWebhook,
  applyAlertStates,
  startAlertDeliveryTimer,
  startDeadManPingTimer,
  type WantedAlertState,
} from '../alerts/index.ts';
import {
  type BackupDependencies,
  BackupInterruptedError,
  type DeploymentBackupState,
  gatherBackupState,
  recoverInterruptedBackups,
  type SkipCode,
} from '../backups/index.ts';
import { type LlmSettings, runWorkspaceTurns, type WorkspaceTurnSummary } from '../agent/index.ts';
import type { JobQueue } from '../jobs/index.ts';
import { emptyJobTally, type JobTally, startJobRunners, tallySince } from './job-runners.ts';
import { claimDueTestRestores, recoverInterruptedRestores } from '../restore/index.ts';
import { checkUncheckedBackups } from '../verification/index.ts';
import { wantedStateAlerts } from './state-alerts.ts';

/** Everything the ops-agent loop needs; built by the worker. */
export interface LoopDependencies {
  backup: BackupDependencies;
  /** Where the cycle queues the work it decides on; the job runners take it from there. */
  jobs: JobQueue;
  logger: Logger;
  settings: {
    concurrency: number;
    overdueGraceMs: number;
    retryDelayMs: number;
  };
  /**
   * The optional LLM agent; null: the loop runs without a model. It gets one turn per workspace with backup-enabled
   * deployments; `workspaceId` (AGENT_WORKSPACE_ID) limits the turns to that workspace.
   */
  agent: { llm: LlmSettings; workspaceId: string | null } | null;
  /**
   * The alert webhook's outbox, sent by `runLoop` after each cycle and every `intervalMs` (during cycles too); null or
   * unset: no webhook.
   */
  alertDelivery?: (AlertWebhook & { intervalMs: number }) | null;
  /**
   * How often the dead-man ping outbox is sent (also after each cycle); unset: not sent by this loop. Pings exist
   * only for deployments with a `deadManUrl`.
   */
  deadManPingIntervalMs?: number;
}

/** What one cycle decided and queued (the jobs' own results are in the job tally). */
export interface CycleSummary {
  startedAt: string;
  /** Deployments whose scheduled backup is due (and not running). */
  due: number;
  /** Of those, backups newly queued (the others were already waiting in the queue). */
  queued: number;
  /** Deployments not due, or not backed up (FAILED, no dataExport, backups off, …). */
  skipped: number;
  overdue: number;
  /** Backups and restores whose process died, now FAILED "Interrupted". */
  interrupted: number;
  interruptedRestores: number;
  pruneSuggestions: number;
  /** Scheduled test-restores queued this cycle. */
  testRestoresQueued: number;
  /** Whether an off-site upload pass was queued (one runs at a time; false when one already waits). */
  uploadPassQueued: boolean;
  /** Successful backups left unchecked (a worker stopped before their format check) and checked this cycle. */
  lateFormatChecks: number;
  /** One entry per workspace turn of the LLM agent; null when no agent is configured or the cycle was stopping. */
  agent: WorkspaceTurnSummary[] | null;
  ms: number;
}

/** Skip reasons already logged per deployment, so a lasting reason is logged once, not every cycle. */
export type SkipMemory = Map<string, SkipCode>;

export interface CycleOptions {
  /** Once aborted, no new backup starts (running ones go on). */
  stopTakingWork?: AbortSignal;
  /** Aborts running backups (their records end FAILED with the signal's reason). */
  abortRunning?: AbortSignal;
  skipMemory?: SkipMemory;
}

/** Codes that are the normal state of things and not worth a log line. */
const QUIET_CODES: ReadonlySet<SkipCode> = new Set(['NOT_DUE']);

/**
 * One cycle of the ops agent: recover interrupted backups, gather the backup state, alert on overdue and blocked
 * deployments, run every due backup (at most `concurrency` at once) without waiting for any model, prune after each
 * success, then — when configured — let the LLM agent review each workspace's state with its tools, one turn per
 * workspace. Errors of one deployment (or one workspace's turn) never stop the others; the summary is logged and
 * returned.
 */
export async function runCycle(deps: LoopDependencies, options: CycleOptions = {}): Promise<CycleSummary> {
  const log = deps.logger.child({ module: 'ops-agent/loop' });
  const started = deps.backup.clock();
  const summary: CycleSummary = {
    startedAt: started.toISOString(),
    due: 0,
    queued: 0,
    skipped: 0,
    overdue: 0,
    interrupted: 0,
    interruptedRestores: 0,
    pruneSuggestions: 0,
    testRestoresQueued: 0,
    uploadPassQueued: false,
    lateFormatChecks: 0,
    agent: null,
    ms: 0,
  };
  // A recovery failure (one record it cannot update, say) must not stop every deployment's backups.
  const recovery = await recoverInterruptedBackups(deps.backup).catch((error: unknown) => {
    log.error({ err: error }, 'crash recovery failed; the cycle goes on without it');
    return null;
  });
  summary.interrupted = recovery?.interrupted.length ?? 0;
  const restores = await recoverInterruptedRestores(deps.backup).catch((error: unknown) => {
    log.error({ err: error }, 'crash recovery of restores failed; the cycle goes on without it');
    return [];
  });
  summary.interruptedRestores = restores.length;

  const stateOptions = { overdueGraceMs: deps.settings.overdueGraceMs, retryDelayMs: deps.settings.retryDelayMs };
  const state = await gatherBackupState(deps.backup.db, {
    now: started,
    ...stateOptions,
    backupRoot: deps.backup.store.root,
    query: deps.backup.query,
  });
  summary.overdue = state.totals.overdue;
  summary.pruneSuggestions = state.pruneSuggestions.length;
  const due: DeploymentBackupState[] = [];
  const alertStates: WantedAlertState[] = [];
  for (const deployment of state.deployments) {
    if (deployment.decision.due) {
      if (!deployment.running) due.push(deployment);
    } else {
      summary.skipped += 1;
      noteSkip(deps, deployment, options.skipMemory, log);
    }
    alertStates.push(...wantedStateAlerts(deployment));
  }
  await applyAlertStates(deps.backup.db, deps.backup.notifier, alertStates, started).catch((error: unknown) =>
    log.error({ err: error }, 'could not update the overdue and blocked alerts'),
  );
  summary.due = due.length;
  for (const suggestion of state.pruneSuggestions) {
    log.warn(
      suggestion,
      `deployment ${suggestion.name} keeps ${suggestion.storedBackups} backups (more than 20): consider pruning`,
    );
  }

  if (options.stopTakingWork?.aborted) return finish(deps, summary, started, log);

  // Due backups are queued in one statement; the queue drops a deployment whose backup already waits. Workers take
  // them from there, spread over every worker process, without waiting for any model.
  summary.queued = await deps.jobs
    .enqueueMany(
      'backup',
      due.map((deployment) => ({
        deploymentId: deployment.id,
        trigger: 'SCHEDULE' as const,
        requestedBy: 'schedule',
        expectedLastBackupAt: deployment.lastBackupAt?.toISOString() ?? null,
      })),
    )
    .catch((error: unknown) => {
      log.error({ err: error }, 'could not queue the due backups; the next cycle tries again');
      return 0;
    });

  // Format checks a stopped worker never ran (each backup checks its own file right after it succeeds).
  const caughtUp = await checkUncheckedBackups(deps.backup, {
    now: deps.backup.clock(),
    ...(options.abortRunning ? { signal: options.abortRunning } : {}),
  }).catch((error: unknown) => {
    log.error({ err: error }, 'catching up unchecked backups failed; the cycle goes on');
    return [];
  });
  summary.lateFormatChecks = caughtUp.length;

  // Off-site copies of new backups (and retries of earlier ones): one pass at a time, beside the cycle.
  if (deps.backup.destinations?.length) {
    summary.uploadPassQueued =
      (await deps.jobs.enqueue('upload', {}).catch((error: unknown) => {
        log.error({ err: error }, 'could not queue the off-site upload pass; the next cycle tries again');
        return null;
      })) !== null;
  }

  // Due test-restores, each claimed and queued in one transaction, run one at a time beside the cycle.
  const testRestores = await claimDueTestRestores(
    deps.backup,
    deps.backup.clock(),
    async (transaction, id) => Boolean(await deps.jobs.enqueue('testRestore', { deploymentId: id }, { transaction })),
    new Set(due.map((deployment) => deployment.id)),
  ).catch((error: unknown) => {
    log.error({ err: error }, 'could not queue the due test-restores; the next cycle tries again');
    return [];
  });
  summary.testRestoresQueued = testRestores.length;

  if (deps.agent) {
    summary.agent = await runAgent(deps, deps.agent, stateOptions, options, log);
  }
  return finish(deps, summary, started, log);
}

function finish(deps: LoopDependencies, summary: CycleSummary, started: Date, log: Logger): CycleSummary {
  summary.ms = deps.backup.clock().getTime() - started.getTime();
  log.debug(summary, 'cycle decided');
  return summary;
}

function noteSkip(
  deps: LoopDependencies,
  deployment: DeploymentBackupState,
  memory: SkipMemory | undefined,
  log: Logger,
): void {
  if (deployment.decision.due) return;
  const { code, reason } = deployment.decision;
  if (memory?.get(deployment.id) === code) return;
  memory?.set(deployment.id, code);
  if (QUIET_CODES.has(code)) return;
  log.info({ deploymentId: deployment.id, deployment: deployment.name, code }, `backup skipped: ${reason}`);
}

/** The agent's turns, one per workspace (agent/workspace-turns.ts); a failure to even list them costs the cycle nothing. */
async function runAgent(
  deps: LoopDependencies,
  agent: NonNullable<LoopDependencies['agent']>,
  stateOptions: { overdueGraceMs: number; retryDelayMs: number },
  options: CycleOptions,
  log: Logger,
): Promise<CycleSummary['agent']> {
  try {
    return await runWorkspaceTurns({
      backup: deps.backup,
      llm: agent.llm,
      onlyWorkspaceId: agent.workspaceId,
      stateOptions,
      logger: deps.logger,
      ...(options.stopTakingWork ? { stopTakingWork: options.stopTakingWork } : {}),
      ...(options.abortRunning ? { abortRunning: options.abortRunning } : {}),
    });
  } catch (error) {
    log.error({ err: error }, 'the LLM agent turns could not start; the cycle goes on');
    return [];
  }
}

/** Something that is told when each cycle starts and ends (the worker's health server and metrics). */
export interface CycleObserver {
  cycleStarted(at: Date): void;
  /** `summary` is null when the cycle threw (it is logged; the loop goes on). */
  cycleFinished(at: Date, summary: CycleSummary | null): void;
}

/**
 * The worker: starts the job runners (backups, restores, test-restores, uploads, taken from the durable queue), then
 * runs a cycle every `intervalMs` until `stopTakingWork` aborts. Each cycle logs one line: what it decided, and what
 * this worker's jobs did since the previous line. With a webhook, due alert deliveries are sent after each cycle and
 * on their own timer. With `once`, a single cycle runs and the worker waits until the work it queued (and any other
 * ready work) is done. A cycle that throws is logged and the loop goes on. Returns when the loop has stopped; the
 * caller stops the job queue (which lets running jobs finish within the grace).
 */
export async function runLoop(
  deps: LoopDependencies,
  options: {
    intervalMs: number;
    stopTakingWork: AbortSignal;
    abortRunning: AbortSignal;
    once?: boolean;
    observer?: CycleObserver;
  },
): Promise<void> {
  if (options.once) {
    await runOnce(deps, options);
    return;
  }
  const log = deps.logger.child({ module: 'ops-agent/loop' });
  const skipMemory: SkipMemory = new Map();
  const tally = emptyJobTally();
  await startJobRunners(runnerDependencies(deps), { abortRunning: options.abortRunning, tally });
  const deliveries = startDeliveries(deps);
  let reported = { ...tally };
  try {
    while (!options.stopTakingWork.aborted) {
      options.observer?.cycleStarted(deps.backup.clock());
      let summary: CycleSummary | null = null;
      try {
        summary = await runCycle(deps, {
          stopTakingWork: options.stopTakingWork,
          abortRunning: options.abortRunning,
          skipMemory,
        });
        logCycle(log, summary, tallySince(tally, reported));
        reported = { ...tally };
      } catch (error) {
        log.error({ err: error }, 'cycle failed; the loop goes on');
      }
      options.observer?.cycleFinished(deps.backup.clock(), summary);
      // Not awaited: a webhook that is down or slow must not hold up the next cycle.
      void deliveries?.deliverNow();
      await sleep(options.intervalMs, options.stopTakingWork);
    }
  } finally {
    await deliveries?.stop();
  }
}

/**
 * One cycle and the work it queued: starts the job runners, runs the cycle, waits until no job is ready or running
 * (or `stopTakingWork` aborts), stops taking jobs, logs the cycle's line and returns what happened. For `--once`,
 * the demo and tests.
 */
export async function runOnce(
  deps: LoopDependencies,
  options: { stopTakingWork?: AbortSignal; abortRunning?: AbortSignal; observer?: CycleObserver } = {},
): Promise<{ cycle: CycleSummary; jobs: JobTally }> {
  const log = deps.logger.child({ module: 'ops-agent/loop' });
  const tally = emptyJobTally();
  await startJobRunners(runnerDependencies(deps), {
    abortRunning: options.abortRunning ?? new AbortController().signal,
    tally,
  });
  const deliveries = startDeliveries(deps);
  try {
    options.observer?.cycleStarted(deps.backup.clock());
    const cycle = await runCycle(deps, options);
    await deps.jobs.waitUntilIdle(options.stopTakingWork ? { signal: options.stopTakingWork } : {});
    options.observer?.cycleFinished(deps.backup.clock(), cycle);
    logCycle(log, cycle, tally);
    await deliveries?.deliverNow();
    return { cycle, jobs: { ...tally } };
  } finally {
    await deps.jobs.pause();
    await deliveries?.stop();
  }
}

/** The outboxes' senders on their own timers: the webhook's when one is configured, and the dead-man pings'. */
function startDeliveries(deps: LoopDependencies) {
  const { alertDelivery } = deps;
  const alerts = alertDelivery
    ? startAlertDeliveryTimer(alertDelivery.deps, alertDelivery.intervalMs, { retryPolicy: alertDelivery.retryPolicy })
    : null;
  const pings = deps.deadManPingIntervalMs
    ? startDeadManPingTimer(
        { db: deps.backup.db, clock: deps.backup.clock, logger: deps.logger },
        deps.deadManPingIntervalMs,
      )
    : null;
  if (!alerts && !pings) return null;
  return {
    async deliverNow() {
      await Promise.all([alerts?.deliverNow(), pings?.sendNow()]);
    },
    async stop() {
      await Promise.all([alerts?.stop(), pings?.stop()]);
    },
  };
}

function runnerDependencies(deps: LoopDependencies) {
  return {
    backup: deps.backup,
    jobs: deps.jobs,
    logger: deps.logger,
    settings: { concurrency: deps.settings.concurrency },
  };
}

/** The cycle's one log line: its decisions, and the jobs this worker finished since the previous line. */
function logCycle(log: Logger, cycle: CycleSummary, jobs: JobTally): void {
  const uploads =
    jobs.uploaded + jobs.uploadsFailed > 0 ? `, ${jobs.uploaded} uploaded, ${jobs.uploadsFailed} upload(s) failed` : '';
  const tests =
    jobs.testRestores > 0 ? `, ${jobs.testRestores} test-restore(s), ${jobs.testRestoresFailed} failed` : '';
  log.info(
    { ...cycle, jobs },
    `cycle: ${cycle.due} due, ${jobs.backupsRun} run, ${jobs.backupsSucceeded} succeeded, ${jobs.backupsFailed} failed, ` +
      `${cycle.skipped + jobs.backupsSkipped} skipped, ${cycle.overdue} overdue${uploads}${tests} (${cycle.ms} ms)`,
  );
}

/** Waits `ms`, or less when `signal` aborts (an abort is the end of the wait, not an error). */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return wait(ms, undefined, { signal }).catch(() => undefined);
}

/** The reason running backups are aborted with when the worker shuts down. */
export function shutdownInterruption(): BackupInterruptedError {
  return new BackupInterruptedError(
    'Interrupted',
    'interrupted: the worker shut down before the backup finished (no file was kept)',
  );
}
