import { parseArgs } from 'node:util';
import { assertBackupRootUsable, createBackupDependencies } from './lib/runtime/services.ts';
import { runLoop, shutdownInterruption, type LoopDependencies } from './lib/worker/loop.ts';
import { createWebhookNotifier, noopNotifier } from './lib/alerts/notifier.ts';
import { openRuntime, readEnvironment, runMain } from './lib/runtime/runtime.ts';

/**
 * The worker process: opens (and migrates) the database, then runs the ops-agent loop every
 * WORKER_INTERVAL_SECONDS (`--once`: a single cycle). On SIGTERM/SIGINT it takes no new work, lets running backups
 * finish for SHUTDOWN_GRACE_SECONDS, then aborts them (recorded FAILED "interrupted", temporary files removed) and
 * exits 0.
 */
runMain(async () => {
  const { values } = parseArgs({ options: { once: { type: 'boolean', default: false } } });
  // Signals are taken from the first moment: one that arrives during start-up still means a clean stop.
  const stopTakingWork = new AbortController();
  const abortRunning = new AbortController();
  let graceSeconds: number | null = null;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopTakingWork.signal.aborted) return;
    stopTakingWork.abort(signal);
    if (graceSeconds !== null) startGracePeriod(signal);
  };
  const startGracePeriod = (signal: NodeJS.Signals) => {
    logger.info({ signal, graceSeconds }, 'worker stopping: no new backups; running ones may finish within the grace period');
    setTimeout(() => abortRunning.abort(shutdownInterruption()), (graceSeconds ?? 0) * 1_000).unref();
  };
  process.on('SIGTERM', onSignal).on('SIGINT', onSignal);

  const runtime = await openRuntime(readEnvironment(), 'worker');
  const { config, logger, database } = runtime;
  await assertBackupRootUsable(config.BACKUP_ROOT);
  const notifier = config.ALERT_WEBHOOK_URL ? createWebhookNotifier({ url: config.ALERT_WEBHOOK_URL, logger }) : noopNotifier;
  const deps: LoopDependencies = {
    backup: { ...createBackupDependencies(runtime), notifier },
    logger,
    settings: {
      concurrency: config.BACKUP_CONCURRENCY,
      overdueGraceMs: config.BACKUP_OVERDUE_GRACE_MINUTES * 60_000,
      retryDelayMs: config.BACKUP_RETRY_MINUTES * 60_000,
    },
    agent: config.LLM_BASE_URL
      ? {
          llm: {
            baseUrl: config.LLM_BASE_URL,
            model: config.LLM_MODEL,
            ...(config.LLM_API_KEY ? { apiKey: config.LLM_API_KEY } : {}),
            maxSteps: config.LLM_MAX_STEPS,
            timeoutMs: config.LLM_TIMEOUT_SECONDS * 1_000,
          },
          workspaceId: config.AGENT_WORKSPACE_ID ?? null,
        }
      : null,
  };
  logger.info({ agent: deps.agent ? 'LLM agent enabled' : 'no LLM endpoint configured: automatic backups only' }, 'ops-agent loop starting');

  graceSeconds = config.SHUTDOWN_GRACE_SECONDS;
  if (stopTakingWork.signal.aborted) startGracePeriod(stopTakingWork.signal.reason as NodeJS.Signals);

  await runLoop(deps, {
    intervalMs: config.WORKER_INTERVAL_SECONDS * 1_000,
    stopTakingWork: stopTakingWork.signal,
    abortRunning: abortRunning.signal,
    once: values.once,
  });
  await notifier.flush(5_000);
  await database.close();
  logger.info('worker stopped');
});
