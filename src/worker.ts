import { openRuntime, readEnvironment, runMain } from './lib/runtime.ts';

/**
 * The worker process: opens the database (migrating it), then runs until SIGTERM/SIGINT, when it shuts down cleanly
 * and exits 0. The ops-agent loop runs inside it.
 */
runMain(async () => {
  const { logger, database } = await openRuntime(readEnvironment(), 'worker');
  const stopped = new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  const keepAlive = setInterval(() => undefined, 1 << 30);
  const signal = await stopped;
  clearInterval(keepAlive);
  logger.info({ signal }, 'worker stopping');
  await database.close();
  logger.info('worker stopped');
});
