export { openRuntime, readEnvironment, runMain, type Runtime } from './runtime.ts';
export { createLoopDependencies, createServices, openServices } from './services.ts';
