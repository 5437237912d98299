export { type HealthServer, type HealthServerOptions, startHealthServer } from './health-server.ts';
export { judgeLiveness, type LoopActivity, type Liveness, STUCK_AFTER_INTERVALS } from './loop-liveness.ts';
export { databaseCheck, type ReadinessCheck, volumeWritableCheck } from './readiness-checks.ts';
export {
  createWorkerMetrics,
  type QueueDepth,
  WORKER_METRIC_NAMES,
  type WorkerMetrics,
  type WorkerMetricsOptions,
} from './worker-metrics.ts';
