import { keepStart, type Logger, redactSecrets } from '../shared/index.ts';
import { requestChatCompletion, type ChatMessage, type ChatToolDefinition } from './llm-client.ts';
import { callTool, toolInputJsonSchema, type AnyAgentTool, type ToolResult } from './tool.ts';

/** How to reach the model and how far one turn may go. Built from `LLM_*` config; no endpoint → no agent turn. */
export interface LlmSettings {
  /** OpenAI-compatible base URL, e.g. `http://127.0.0.1:11434/v1`. */
  baseUrl: string;
  model: string;
  apiKey?: string;
  /** Most model calls in one turn. */
  maxSteps: number;
  /** Timeout of one model call. */
  timeoutMs: number;
  temperature?: number;
}

export interface AgentToolCallReport {
  step: number;
  name: string;
  /** As the model sent them: the parsed JSON, or the raw text when it is not JSON. */
  arguments: unknown;
  ok: boolean;
  /** The tool's value when `ok`, otherwise its `ToolError`. */
  result: unknown;
}

export interface AgentTurnReport {
  /** Model calls made. */
  steps: number;
  toolCalls: AgentToolCallReport[];
  finalAnswer: string | null;
  stoppedBecause: 'final_answer' | 'max_steps' | 'error' | 'aborted';
  /** Redacted. */
  error: string | null;
}

const LOGGED_ANSWER_CHARS = 4_000;

/**
 * One agent turn: sends the system prompt, the state (`userMessage`) and the tools, runs the tool calls the model
 * returns through `callTool` (validated; failures go back to the model as data so it can correct itself), and asks
 * again until the model answers without tool calls, `maxSteps` model calls were made, a call fails or `signal` aborts.
 * Never throws: every way it ends is in the report and in the log.
 */
export async function runAgentTurn<Context>(options: {
  settings: LlmSettings;
  systemPrompt: string;
  userMessage: string;
  tools: readonly AnyAgentTool<Context>[];
  context: Context;
  logger: Logger;
  fetch?: typeof fetch;
  signal?: AbortSignal;
}): Promise<AgentTurnReport> {
  const { settings, tools, context, signal } = options;
  const logger = options.logger.child({ module: 'ops-agent/llm-agent' });
  const redact = (text: string) => redactSecrets(text, settings.apiKey ? [settings.apiKey] : []);
  const toolCalls: AgentToolCallReport[] = [];
  let steps = 0;
  const finish = (
    stoppedBecause: AgentTurnReport['stoppedBecause'],
    finalAnswer: string | null = null,
    error: string | null = null,
  ) => ({ steps, toolCalls, finalAnswer, stoppedBecause, error }) satisfies AgentTurnReport;
  const abort = () => {
    logger.warn({ steps }, 'LLM agent turn aborted');
    return finish('aborted');
  };

  try {
    const toolDefinitions = tools.map(describeToolForModel);
    const messages: ChatMessage[] = [
      { role: 'system', content: options.systemPrompt },
      { role: 'user', content: options.userMessage },
    ];
    for (;;) {
      if (signal?.aborted) return abort();
      if (steps >= settings.maxSteps) {
        logger.warn(
          { steps, toolCalls: toolCalls.length },
          `LLM agent stopped after ${steps} model calls without a final answer`,
        );
        return finish('max_steps');
      }
      steps += 1;
      logger.debug({ step: steps, messages: messages.length }, 'asking the model');
      const outcome = await requestChatCompletion({
        endpoint: settings,
        body: {
          model: settings.model,
          messages,
          tools: toolDefinitions,
          tool_choice: 'auto',
          temperature: settings.temperature,
        },
        fetch: options.fetch,
        signal,
      });
      if (!outcome.ok) {
        if (outcome.error.kind === 'aborted') return abort();
        const { kind, message, status, bodyExcerpt } = outcome.error;
        logger.error({ step: steps, kind, status, bodyExcerpt }, `LLM call failed: ${message}`);
        return finish('error', null, message);
      }

      const { content, toolCalls: requested } = outcome.reply;
      if (requested.length === 0) {
        logger.info(
          {
            steps,
            toolCalls: toolCalls.length,
            answer: content === null ? null : redact(keepStart(content, LOGGED_ANSWER_CHARS)),
          },
          'LLM agent final answer',
        );
        return finish('final_answer', content);
      }
      messages.push({ role: 'assistant', content, tool_calls: requested });
      for (const call of requested) {
        if (signal?.aborted) return abort();
        const { name, arguments: rawArguments } = call.function;
        const result = await callTool(tools, name, rawArguments, context);
        toolCalls.push({
          step: steps,
          name,
          arguments: parseArguments(rawArguments),
          ok: result.ok,
          result: result.ok ? result.value : result.error,
        });
        logger.info(
          { step: steps, tool: name, ok: result.ok, errorCode: result.ok ? null : result.error.code },
          `tool call ${name}`,
        );
        messages.push({ role: 'tool', tool_call_id: call.id, content: stringifyToolResult(result) });
      }
    }
  } catch (error) {
    // Only a bug gets here (a schema without a JSON Schema form, a result that cannot be serialised, …).
    const message = redact(`LLM agent turn failed: ${error instanceof Error ? error.message : String(error)}`);
    logger.error({ err: error, steps }, message);
    return finish('error', null, message);
  }
}

function describeToolForModel<Context>(tool: AnyAgentTool<Context>): ChatToolDefinition {
  return {
    type: 'function',
    function: { name: tool.name, description: tool.description, parameters: toolInputJsonSchema(tool) },
  };
}

function parseArguments(rawArguments: string): unknown {
  try {
    return JSON.parse(rawArguments);
  } catch {
    return rawArguments;
  }
}

/** JSON for the model; bigint (row counts, byte sizes) becomes its decimal string rather than a TypeError. */
function stringifyToolResult(result: ToolResult<unknown>): string {
  return JSON.stringify(result, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
}
