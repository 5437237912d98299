export { type AgentTurnReport, type LlmSettings, runAgentTurn } from './llm-agent.ts';
export { buildSystemPrompt } from './system-prompt.ts';
export { backupTools, type ToolContext } from './tools.ts';
