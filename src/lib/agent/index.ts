export { type AgentTurnReport, type LlmSettings, runAgentTurn } from './llm-agent.ts';
export { buildSystemPrompt } from './system-prompt.ts';
export type { ToolContext } from './tool-context.ts';
export { backupTools } from './tools.ts';
