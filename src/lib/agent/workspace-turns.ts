import type { BackupDependencies } from '../backups/index.ts';
import type { Logger } from '../shared/index.ts';
import { type AgentTurnReport, type LlmSettings, runAgentTurn } from './llm-agent.ts';
import { buildStateMessage } from './state-render.ts';
import { SYSTEM_PROMPT } from './system-prompt.ts';
import type { ToolContext } from './tool-context.ts';
import { backupTools } from './tools.ts';
import { gatherWorkspaceState, listAgentWorkspaces } from './workspace-state.ts';

/** How one workspace's turn ended, for the cycle summary. */
export interface WorkspaceTurnSummary {
  workspaceId: string;
  stoppedBecause: AgentTurnReport['stoppedBecause'];
  steps: number;
  toolCalls: number;
}

export interface WorkspaceTurnsOptions {
  backup: BackupDependencies;
  llm: LlmSettings;
  /** `AGENT_WORKSPACE_ID`: only this workspace gets a turn; null: every workspace with backup-enabled deployments. */
  onlyWorkspaceId: string | null;
  stateOptions: ToolContext['stateOptions'];
  logger: Logger;
  /** Once aborted, no further turn starts, and the running one stops asking the model. */
  stopTakingWork?: AbortSignal;
  /** Aborts backups a turn started (they get the same shutdown grace as scheduled ones). */
  abortRunning?: AbortSignal;
  fetch?: typeof fetch;
}

/**
 * The agent's part of a cycle: one turn per workspace, one after another, each with the constant system prompt, the
 * state of that workspace alone as its user message, and the tools bound to that workspace. A turn that fails (the
 * model unreachable, the state not readable) is logged and summarised; the next workspace's turn runs all the same.
 * Sequential on purpose: a model endpoint is usually one slow resource, and each turn is bounded by `maxSteps`.
 */
export async function runWorkspaceTurns(options: WorkspaceTurnsOptions): Promise<WorkspaceTurnSummary[]> {
  const workspaceIds = await listAgentWorkspaces(options.backup.db, options.onlyWorkspaceId);
  const summaries: WorkspaceTurnSummary[] = [];
  for (const workspaceId of workspaceIds) {
    if (options.stopTakingWork?.aborted) break;
    summaries.push(await runWorkspaceTurn(options, workspaceId));
  }
  return summaries;
}

async function runWorkspaceTurn(options: WorkspaceTurnsOptions, workspaceId: string): Promise<WorkspaceTurnSummary> {
  const { backup, stopTakingWork, abortRunning } = options;
  const logger = options.logger.child({ workspaceId });
  try {
    const state = await gatherWorkspaceState(backup, workspaceId, { now: backup.clock(), ...options.stateOptions });
    const report = await runAgentTurn<ToolContext>({
      settings: options.llm,
      systemPrompt: SYSTEM_PROMPT,
      userMessage: buildStateMessage(state),
      tools: backupTools,
      context: {
        backup,
        workspaceId,
        stateOptions: options.stateOptions,
        ...(abortRunning ? { signal: abortRunning } : {}),
      },
      logger,
      ...(options.fetch ? { fetch: options.fetch } : {}),
      ...(stopTakingWork ? { signal: stopTakingWork } : {}),
    });
    return {
      workspaceId,
      stoppedBecause: report.stoppedBecause,
      steps: report.steps,
      toolCalls: report.toolCalls.length,
    };
  } catch (error) {
    logger
      .child({ module: 'ops-agent/llm-agent' })
      .error({ err: error }, 'the agent turn of a workspace crashed; the other workspaces get theirs');
    return { workspaceId, stoppedBecause: 'error', steps: 0, toolCalls: 0 };
  }
}
