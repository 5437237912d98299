import { z } from 'zod';
import { UNTRUSTED_LIMITS, untrusted, type UntrustedText } from './untrusted-text.ts';

/**
 * What an agent tool is: a name, a description written for a model, a zod input schema that is both what the model
 * sees (as JSON Schema) and what validates what it sends, and `execute(input, context)` returning plain,
 * JSON-serialisable data. Expected failures are data too (`{ ok: false, error }`), so the model can read them.
 */
export interface ToolError {
  /** Stable code, e.g. `INVALID_INPUT`, `NOT_FOUND`, `REFUSED`, `UNKNOWN_TOOL`. */
  code: string;
  /** Our words (plus what the model itself sent). */
  message: string;
  /** Text behind the error that a tenant or a pod may control (an exception's message, a policy's bad value). */
  detail?: UntrustedText;
}

export type ToolResult<T> = { ok: true; value: T } | { ok: false; error: ToolError };

export interface AgentTool<Context, Input = unknown, Output = unknown> {
  name: string;
  description: string;
  inputSchema: z.ZodType<Input>;
  execute(input: Input, context: Context): Promise<ToolResult<Output>>;
}

/** A tool with its input type erased, for lists of tools. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyAgentTool<Context> = AgentTool<Context, any, unknown>;

/** The JSON Schema the model is shown for a tool's input. */
export function toolInputJsonSchema(tool: AnyAgentTool<never>): Record<string, unknown> {
  return z.toJSONSchema(tool.inputSchema, { target: 'draft-7', io: 'input' }) as Record<string, unknown>;
}

/**
 * Runs the tool called `name` with arguments as the model sent them (an object, or its JSON text). Unknown tools,
 * unparsable JSON and arguments that fail the schema come back as errors naming the tool, the input and the cause;
 * nothing is executed then. A tool that throws is reported as `TOOL_FAILED` rather than crashing the caller.
 */
export async function callTool<Context>(
  tools: readonly AnyAgentTool<Context>[],
  name: string,
  rawArguments: unknown,
  context: Context,
): Promise<ToolResult<unknown>> {
  const tool = tools.find((candidate) => candidate.name === name);
  if (!tool) {
    return {
      ok: false,
      error: {
        code: 'UNKNOWN_TOOL',
        message: `no tool named "${name}"; available: ${tools.map((t) => t.name).join(', ')}`,
      },
    };
  }
  let input: unknown = rawArguments;
  if (typeof rawArguments === 'string') {
    try {
      input = rawArguments.trim() === '' ? {} : JSON.parse(rawArguments);
    } catch {
      return {
        ok: false,
        error: {
          code: 'INVALID_INPUT',
          message: `${name}: arguments are not valid JSON: ${rawArguments.slice(0, 200)}`,
        },
      };
    }
  }
  const parsed = tool.inputSchema.safeParse(input ?? {});
  if (!parsed.success) {
    const problems = parsed.error.issues
      .map((issue) => `${issue.path.join('.') || 'input'}: ${issue.message}`)
      .join('; ');
    return {
      ok: false,
      error: {
        code: 'INVALID_INPUT',
        message: `${name}: invalid input ${JSON.stringify(input)?.slice(0, 300)}: ${problems}`,
      },
    };
  }
  try {
    return await tool.execute(parsed.data, context);
  } catch (error) {
    return {
      ok: false,
      error: {
        code: 'TOOL_FAILED',
        message: `${name} failed; the detail says why`,
        detail: untrusted(error instanceof Error ? error.message : String(error), UNTRUSTED_LIMITS.message),
      },
    };
  }
}
