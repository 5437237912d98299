import { parseArgs } from 'node:util';
import { databaseCheck, startHealthServer, volumeWritableCheck } from './lib/health/index.ts';
import { createLoopDependencies, openServices, readEnvironment, runMain } from './lib/runtime/index.ts';
import { assertBackupRootUsable } from './lib/storage/index.ts';
import { runLoop, shutdownInterruption } from './lib/worker/index.ts';

/**
 * The worker process: opens (and migrates) the database, starts the job runners (backups, confirmed restores,
 * test-restores and off-site uploads from the durable queue) and runs the ops-agent cycle every
 * WORKER_INTERVAL_SECONDS (`--once`: a single cycle, then it waits until the queued work is done). On SIGTERM/SIGINT
 * it takes no new work, lets running jobs finish for SHUTDOWN_GRACE_SECONDS, then aborts them (a backup is recorded
 * FAILED "interrupted", its temporary file removed, and its job retried by another worker) and exits 0.
 * Its health server (HEALTH_PORT) answers Kubernetes' probes and Prometheus from start-up to the end.
 */
/** A cycle running longer than this makes /healthz fail (Kubernetes restarts the worker). */
const CYCLE_TIMEOUT_MS = 30 * 60_000;

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
    logger.info(
      { signal, graceSeconds },
      'worker stopping: no new backups; running ones may finish within the grace period',
    );
    setTimeout(() => abortRunning.abort(shutdownInterruption()), (graceSeconds ?? 0) * 1_000).unref();
  };
  process.on('SIGTERM', onSignal).on('SIGINT', onSignal);

  const services = await openServices(readEnvironment(), 'worker', { role: 'worker' });
  const { config, logger } = services.runtime;
  await assertBackupRootUsable(config.BACKUP_ROOT);
  const deps = await createLoopDependencies(services);
  // From the first signal on, no new job is taken; the running ones go on until the grace period ends.
  const pause = () => void deps.jobs.pause().catch((error: unknown) => logger.warn({ err: error }, 'could not pause'));
  if (stopTakingWork.signal.aborted) pause();
  else stopTakingWork.signal.addEventListener('abort', pause, { once: true });
  const metrics = services.metrics!;
  const health = await startHealthServer({
    port: config.HEALTH_PORT,
    host: config.HEALTH_HOST,
    lastCycleAt: metrics.lastCycleAt,
    cycleRunningSince: metrics.cycleRunningSince,
    intervalMs: config.WORKER_INTERVAL_SECONDS * 1_000,
    // A cycle only decides and queues work (backups run as jobs beside it); the agent's turns and late format checks
    // are its longest parts. One stuck longer than this is restarted.
    cycleTimeoutMs: CYCLE_TIMEOUT_MS,
    checks: [databaseCheck(services.runtime.database.prisma), volumeWritableCheck(config.BACKUP_ROOT)],
    registry: metrics.registry,
    clock: deps.backup.clock,
    logger,
  });
  logger.info(
    { agent: deps.agent ? 'LLM agent enabled' : 'no LLM endpoint configured: automatic backups only' },
    'ops-agent loop starting',
  );

  graceSeconds = config.SHUTDOWN_GRACE_SECONDS;
  if (stopTakingWork.signal.aborted) startGracePeriod(stopTakingWork.signal.reason as NodeJS.Signals);

  await runLoop(deps, {
    intervalMs: config.WORKER_INTERVAL_SECONDS * 1_000,
    stopTakingWork: stopTakingWork.signal,
    abortRunning: abortRunning.signal,
    once: values.once,
    observer: metrics,
  });
  await health.close();
  // Running jobs end by themselves, or when the grace period aborts them; the margin covers recording that.
  await services.close({ flushTimeoutMs: 5_000, jobsTimeoutMs: (config.SHUTDOWN_GRACE_SECONDS + 60) * 1_000 });
  logger.info('worker stopped');
});
