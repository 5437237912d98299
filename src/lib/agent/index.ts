export { type AgentTurnReport, type LlmSettings, runAgentTurn } from './llm-agent.ts';
export { SYSTEM_PROMPT } from './system-prompt.ts';
export type { ToolContext } from './tool-context.ts';
export { backupTools } from './tools.ts';
export { runWorkspaceTurns, type WorkspaceTurnSummary } from './workspace-turns.ts';
