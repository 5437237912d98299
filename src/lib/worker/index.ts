export { type LoopDependencies, runCycle, runLoop, shutdownInterruption } from './loop.ts';
