export { type Config, ConfigError, loadConfig } from './config.ts';
export { openRuntime, readEnvironment, runMain, type Runtime } from './runtime.ts';
export { createLoopDependencies, createServices, openServices, type ProcessRole } from './services.ts';
