import { formatLateness, type Logger, runWithConcurrency } from '../shared/index.ts';
import { BACKUP_BLOCKED_ALERT, BACKUP_OVERDUE_ALERT, raiseAndNotify, resolveAlerts } from '../alerts/index.ts';
import {
  type BackupDecision,
  type BackupDependencies,
  BackupInterruptedError,
  type BackupState,
  type DeploymentBackupState,
  executeBackup,
  gatherBackupState,
  recoverInterruptedBackups,
  shouldRunBackup,
  type SkipCode,
} from '../backups/index.ts';
import { pruneBackups } from '../retention/index.ts';
import {
  type AgentTurnReport,
  backupTools,
  buildSystemPrompt,
  type LlmSettings,
  runAgentTurn,
  type ToolContext,
} from '../agent/index.ts';
import { runTestRestorePass } from '../restore/index.ts';
import { runUploadPass } from '../offsite/index.ts';
import { checkUncheckedBackups } from '../verification/index.ts';

/** Everything the ops-agent loop needs; built by the worker. */
export interface LoopDependencies {
  backup: BackupDependencies;
  logger: Logger;
  settings: {
    concurrency: number;
    overdueGraceMs: number;
    retryDelayMs: number;
  };
  /** The optional LLM agent; null: the loop runs without a model. */
  agent: { llm: LlmSettings; workspaceId: string | null } | null;
}

/** What one cycle did; logged as its summary. */
export interface CycleSummary {
  startedAt: string;
  due: number;
  run: number;
  succeeded: number;
  failed: number;
  skipped: number;
  overdue: number;
  interrupted: number;
  pruned: number;
  pruneSuggestions: number;
  /** Scheduled test-restores run this cycle, and how many of them failed or found the data shrunk. */
  testRestores: number;
  testRestoresFailed: number;
  dataShrank: number;
  /** Off-site copies uploaded (and verified) this cycle, and failed upload attempts (retried later or given up). */
  uploaded: number;
  uploadsFailed: number;
  /** Successful backups left unchecked (a worker stopped before their format check) and checked this cycle. */
  lateFormatChecks: number;
  agent: (Pick<AgentTurnReport, 'stoppedBecause' | 'steps'> & { toolCalls: number }) | null;
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

/** Codes that mean "backups are on but cannot run": a person must act, so they raise a warning alert. */
const BLOCKED_CODES: ReadonlySet<SkipCode> = new Set(['DEPLOYMENT_NOT_RUNNING', 'INVALID_SCHEDULE', 'UNKNOWN_RECIPE']);
/** Codes that are the normal state of things and not worth a log line. */
const QUIET_CODES: ReadonlySet<SkipCode> = new Set(['NOT_DUE']);

/**
 * One cycle of the ops agent: recover interrupted backups, gather the backup state, alert on overdue and blocked
 * deployments, run every due backup (at most `concurrency` at once) without waiting for any model, prune after each
 * success, then — when configured — let the LLM agent review the state with its tools. Errors of one deployment
 * never stop the others; the summary is logged and returned.
 */
export async function runCycle(deps: LoopDependencies, options: CycleOptions = {}): Promise<CycleSummary> {
  const log = deps.logger.child({ module: 'ops-agent/loop' });
  const started = deps.backup.clock();
  const summary: CycleSummary = {
    startedAt: started.toISOString(),
    due: 0,
    run: 0,
    succeeded: 0,
    failed: 0,
    skipped: 0,
    overdue: 0,
    interrupted: 0,
    pruned: 0,
    pruneSuggestions: 0,
    testRestores: 0,
    testRestoresFailed: 0,
    dataShrank: 0,
    uploaded: 0,
    uploadsFailed: 0,
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

  const stateOptions = { overdueGraceMs: deps.settings.overdueGraceMs, retryDelayMs: deps.settings.retryDelayMs };
  const state = await gatherBackupState(deps.backup.db, {
    now: started,
    ...stateOptions,
    backupRoot: deps.backup.store.root,
  });
  summary.overdue = state.totals.overdue;
  summary.pruneSuggestions = state.pruneSuggestions.length;
  const openAlerts = await loadOpenStateAlerts(deps);
  const due: DeploymentBackupState[] = [];
  for (const deployment of state.deployments) {
    if (deployment.decision.due) {
      if (!deployment.running) due.push(deployment);
    } else {
      summary.skipped += 1;
      noteSkip(deps, deployment, options.skipMemory, log);
    }
    await reviewAlerts(deps, deployment, openAlerts, started).catch((error: unknown) =>
      log.error({ err: error, deploymentId: deployment.id }, 'could not update the alerts of a deployment'),
    );
  }
  summary.due = due.length;
  for (const suggestion of state.pruneSuggestions) {
    log.warn(
      suggestion,
      `deployment ${suggestion.name} keeps ${suggestion.storedBackups} backups (more than 20): consider pruning`,
    );
  }

  await runWithConcurrency(due, deps.settings.concurrency, options.stopTakingWork, async (deployment) => {
    summary.run += 1;
    try {
      const { decision: current, lastBackupAt } = await decideAgain(deps, deployment);
      if (!current.due) {
        summary.skipped += 1;
        log.info({ deploymentId: deployment.id, code: current.code }, `scheduled backup skipped: ${current.reason}`);
        return;
      }
      const outcome = await executeBackup(deps.backup, deployment.id, {
        trigger: 'SCHEDULE',
        expectedLastBackupAt: lastBackupAt,
        ...(options.abortRunning ? { signal: options.abortRunning } : {}),
      });
      if (outcome.status === 'SKIPPED') {
        summary.skipped += 1;
        log.info({ deploymentId: deployment.id, code: outcome.code }, `scheduled backup skipped: ${outcome.reason}`);
        return;
      }
      if (outcome.status === 'FAILED') {
        summary.failed += 1;
        return;
      }
      summary.succeeded += 1;
      try {
        const report = await pruneBackups(deps.backup, deployment.id);
        summary.pruned += report.pruned.length;
      } catch (error) {
        // The backup itself succeeded: a retention failure (e.g. an invalid policy) is reported, not counted as one.
        log.error(
          { err: error, deploymentId: deployment.id },
          `retention not applied: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    } catch (error) {
      summary.failed += 1;
      log.error({ err: error, deploymentId: deployment.id }, 'scheduled backup crashed');
    }
  });

  // Format checks a stopped worker never ran (each backup checks its own file right after it succeeds).
  if (!options.stopTakingWork?.aborted) {
    const caughtUp = await checkUncheckedBackups(deps.backup, {
      now: deps.backup.clock(),
      ...(options.abortRunning ? { signal: options.abortRunning } : {}),
    }).catch((error: unknown) => {
      log.error({ err: error }, 'catching up unchecked backups failed; the cycle goes on');
      return [];
    });
    summary.lateFormatChecks = caughtUp.length;
  }

  // Off-site copies of this cycle's backups (and retries of earlier ones); a failure here never fails a backup.
  if (deps.backup.destinations?.length && !options.stopTakingWork?.aborted) {
    const uploads = await runUploadPass(
      deps.backup,
      deps.backup.clock(),
      options.abortRunning ? { signal: options.abortRunning } : {},
    ).catch((error: unknown) => {
      log.error({ err: error }, 'the off-site upload pass failed; the cycle goes on');
      return null;
    });
    summary.uploaded = uploads?.uploaded ?? 0;
    summary.uploadsFailed = (uploads?.retrying ?? 0) + (uploads?.failed ?? 0);
  }

  // After the backups, so a due test-restore restores this cycle's fresh backup.
  if (!options.stopTakingWork?.aborted) {
    const testRestores = await runTestRestorePass(deps.backup, deps.backup.clock(), {
      ...(options.stopTakingWork ? { stopTakingWork: options.stopTakingWork } : {}),
      ...(options.abortRunning ? { abortRunning: options.abortRunning } : {}),
    }).catch((error: unknown) => {
      log.error({ err: error }, 'the test-restore pass failed; the cycle goes on');
      return null;
    });
    for (const result of testRestores?.results ?? []) {
      summary.testRestores += 1;
      if (result.outcome === 'failed') summary.testRestoresFailed += 1;
      if (result.outcome === 'shrank') summary.dataShrank += 1;
    }
  }

  if (deps.agent && !options.stopTakingWork?.aborted) {
    summary.agent = await runAgent(deps, deps.agent, stateOptions, options, log);
  }
  summary.ms = deps.backup.clock().getTime() - started.getTime();
  log.info(
    summary,
    `cycle: ${summary.due} due, ${summary.run} run, ${summary.succeeded} succeeded, ${summary.failed} failed, ${summary.skipped} skipped, ${summary.overdue} overdue${summary.uploaded + summary.uploadsFailed > 0 ? `, ${summary.uploaded} uploaded, ${summary.uploadsFailed} upload(s) failed` : ''}${summary.testRestores > 0 ? `, ${summary.testRestores} test-restore(s), ${summary.testRestoresFailed} failed` : ''} (${summary.ms} ms)`,
  );
  return summary;
}

/**
 * Takes the due decision again on the deployment as it is now: the state was gathered before the earlier backups of
 * this cycle ran, and meanwhile another worker may have backed this deployment up and released its claim.
 */
async function decideAgain(
  deps: LoopDependencies,
  deployment: DeploymentBackupState,
): Promise<{ decision: BackupDecision; lastBackupAt: Date | null }> {
  const current = await deps.backup.db.deployment.findUnique({ where: { id: deployment.id } });
  if (!current)
    return {
      decision: { due: false, code: 'NOT_FOUND', reason: `deployment "${deployment.id}" does not exist` },
      lastBackupAt: null,
    };
  const decision = shouldRunBackup(current, deps.backup.clock(), {
    lastFailedAt: deployment.recentFailures[0]?.startedAt ?? null,
    retryDelayMs: deps.settings.retryDelayMs,
  });
  return { decision, lastBackupAt: current.lastBackupAt };
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

/** `deploymentId:kind` of every open overdue or blocked alert, read in one query per cycle. */
async function loadOpenStateAlerts(deps: LoopDependencies): Promise<Set<string>> {
  const open = await deps.backup.db.alert.findMany({
    where: { resolvedAt: null, kind: { in: [BACKUP_OVERDUE_ALERT, BACKUP_BLOCKED_ALERT] } },
    select: { deploymentId: true, kind: true },
  });
  return new Set(open.map((alert) => `${alert.deploymentId}:${alert.kind}`));
}

/**
 * Opens or resolves the overdue and blocked alerts of a deployment according to its state. Only changes touch the
 * database (`open` holds the alerts already open), so a steady state costs no statement per deployment.
 */
async function reviewAlerts(
  deps: LoopDependencies,
  deployment: DeploymentBackupState,
  open: Set<string>,
  now: Date,
): Promise<void> {
  const { db, notifier } = deps.backup;
  const base = { workspaceId: deployment.workspaceId, deploymentId: deployment.id, deploymentName: deployment.name };
  const isOpen = (kind: string) => open.has(`${deployment.id}:${kind}`);
  if (deployment.overdue && !isOpen(BACKUP_OVERDUE_ALERT)) {
    await raiseAndNotify(
      db,
      notifier,
      {
        ...base,
        severity: 'CRITICAL',
        kind: BACKUP_OVERDUE_ALERT,
        message:
          `Backup of ${deployment.workspaceSlug}/${deployment.name} is overdue by ${formatLateness(deployment.overdue.lateByMs)}: ` +
          `the schedule (${deployment.scheduleDescription}) fired at ${deployment.overdue.since.toISOString()} and no backup succeeded since. ` +
          `Last successful backup: ${deployment.lastBackupAt?.toISOString() ?? 'never'}.`,
      },
      now,
    );
  } else if (!deployment.overdue && isOpen(BACKUP_OVERDUE_ALERT)) {
    await resolveAlerts(db, deployment.id, [BACKUP_OVERDUE_ALERT], now);
  }
  const blocked = !deployment.decision.due && BLOCKED_CODES.has(deployment.decision.code);
  if (blocked && !isOpen(BACKUP_BLOCKED_ALERT)) {
    await raiseAndNotify(
      db,
      notifier,
      {
        ...base,
        severity: 'WARNING',
        kind: BACKUP_BLOCKED_ALERT,
        message: `Backups of ${deployment.workspaceSlug}/${deployment.name} cannot run: ${deployment.decision.reason}.`,
      },
      now,
    );
  } else if (!blocked && isOpen(BACKUP_BLOCKED_ALERT)) {
    await resolveAlerts(db, deployment.id, [BACKUP_BLOCKED_ALERT], now);
  }
}

async function runAgent(
  deps: LoopDependencies,
  agent: NonNullable<LoopDependencies['agent']>,
  stateOptions: ToolContext['stateOptions'],
  options: CycleOptions,
  log: Logger,
): Promise<CycleSummary['agent']> {
  try {
    const state: BackupState = await gatherBackupState(deps.backup.db, {
      now: deps.backup.clock(),
      ...stateOptions,
      workspaceId: agent.workspaceId,
      backupRoot: deps.backup.store.root,
    });
    const report = await runAgentTurn<ToolContext>({
      settings: agent.llm,
      systemPrompt: buildSystemPrompt(state),
      userMessage: 'Review the backup state above, act with your tools where needed, and report.',
      tools: backupTools,
      context: {
        backup: deps.backup,
        workspaceId: agent.workspaceId,
        stateOptions,
        // A backup the agent started gets the same shutdown grace as a scheduled one.
        ...(options.abortRunning ? { signal: options.abortRunning } : {}),
      },
      logger: deps.logger,
      ...(options.stopTakingWork ? { signal: options.stopTakingWork } : {}),
    });
    return { stoppedBecause: report.stoppedBecause, steps: report.steps, toolCalls: report.toolCalls.length };
  } catch (error) {
    log.error({ err: error }, 'the LLM agent turn crashed; the cycle goes on');
    return { stoppedBecause: 'error', steps: 0, toolCalls: 0 };
  }
}

/** Something that is told when each cycle starts and ends (the worker's health server and metrics). */
export interface CycleObserver {
  cycleStarted(at: Date): void;
  /** `summary` is null when the cycle threw (it is logged; the loop goes on). */
  cycleFinished(at: Date, summary: CycleSummary | null): void;
}

/**
 * Runs cycles every `intervalMs` until `stopTakingWork` aborts; a cycle that throws is logged and the loop goes on.
 * Returns when the current cycle has finished after the stop.
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
  const log = deps.logger.child({ module: 'ops-agent/loop' });
  const skipMemory: SkipMemory = new Map();
  while (!options.stopTakingWork.aborted) {
    options.observer?.cycleStarted(deps.backup.clock());
    let summary: CycleSummary | null = null;
    try {
      summary = await runCycle(deps, {
        stopTakingWork: options.stopTakingWork,
        abortRunning: options.abortRunning,
        skipMemory,
      });
    } catch (error) {
      log.error({ err: error }, 'cycle failed; the loop goes on');
    }
    options.observer?.cycleFinished(deps.backup.clock(), summary);
    if (options.once) return;
    await sleep(options.intervalMs, options.stopTakingWork);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** The reason running backups are aborted with when the worker shuts down. */
export function shutdownInterruption(): BackupInterruptedError {
  return new BackupInterruptedError(
    'Interrupted',
    'interrupted: the worker shut down before the backup finished (no file was kept)',
  );
}
