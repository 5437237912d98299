export {
  type CycleObserver,
  type CycleSummary,
  type LoopDependencies,
  runCycle,
  runLoop,
  shutdownInterruption,
} from './loop.ts';
