import { z } from 'zod';
import { redactSecrets } from '../shared/index.ts';

/**
 * One request/response of the OpenAI-compatible chat-completions protocol with tool calling (OpenAI, and local servers
 * such as Ollama or vLLM under `/v1`). Every failure — HTTP status, network, timeout, caller abort, a body that is not
 * JSON or not a completion — comes back as data with a redacted message; this module never throws.
 */

export interface ChatToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export type ChatMessage =
  | { role: 'system' | 'user'; content: string }
  | { role: 'assistant'; content: string | null; tool_calls?: ChatToolCall[] }
  | { role: 'tool'; tool_call_id: string; content: string };

export interface ChatToolDefinition {
  type: 'function';
  function: { name: string; description: string; parameters: Record<string, unknown> };
}

export interface ChatCompletionRequest {
  model: string;
  messages: ChatMessage[];
  tools: ChatToolDefinition[];
  tool_choice: 'auto';
  temperature?: number;
}

/** Where and how to reach the endpoint; the API key is only ever sent as a bearer token. */
export interface ChatEndpoint {
  baseUrl: string;
  apiKey?: string;
  timeoutMs: number;
}

/** What the model answered: text (the final answer when there are no tool calls) and the tools it wants run. */
export interface AssistantReply {
  content: string | null;
  toolCalls: ChatToolCall[];
}

export interface ChatCompletionFailure {
  kind: 'http' | 'network' | 'timeout' | 'aborted' | 'bad_response';
  /** Redacted, one line. */
  message: string;
  status: number | null;
  /** The first characters of the response body, redacted. */
  bodyExcerpt: string | null;
}

export type ChatCompletionOutcome = { ok: true; reply: AssistantReply } | { ok: false; error: ChatCompletionFailure };

const BODY_EXCERPT_CHARS = 300;

// Lenient only where servers are known to differ harmlessly: `content` may be absent and `tool_calls` null.
const toolCallSchema = z.object({
  id: z.string(),
  type: z.literal('function'),
  function: z.object({ name: z.string().min(1), arguments: z.string() }),
});
const completionSchema = z.object({
  choices: z
    .array(
      z.object({
        message: z.object({
          content: z.string().nullish(),
          tool_calls: z.array(toolCallSchema).nullish(),
        }),
      }),
    )
    .min(1),
});

/** `${baseUrl}/chat/completions` without a doubled slash, whether or not `baseUrl` ends with one. */
export function chatCompletionsUrl(baseUrl: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/chat/completions`;
}

/** POSTs one chat-completions request, bounded by `endpoint.timeoutMs` and the caller's `signal`. */
export async function requestChatCompletion(options: {
  endpoint: ChatEndpoint;
  body: ChatCompletionRequest;
  fetch?: typeof fetch;
  signal?: AbortSignal;
}): Promise<ChatCompletionOutcome> {
  const { endpoint, signal } = options;
  const doFetch = options.fetch ?? fetch;
  const knownSecrets = endpoint.apiKey ? [endpoint.apiKey] : [];
  const redact = (text: string) => redactSecrets(text, knownSecrets);
  const url = chatCompletionsUrl(endpoint.baseUrl);
  const fail = (
    kind: ChatCompletionFailure['kind'],
    message: string,
    status: number | null = null,
    body: string | null = null,
  ) =>
    ({
      ok: false,
      error: { kind, message: redact(message), status, bodyExcerpt: body === null ? null : redact(excerpt(body)) },
    }) as const;

  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
  if (endpoint.apiKey) headers.authorization = `Bearer ${endpoint.apiKey}`;
  const timeout = AbortSignal.timeout(endpoint.timeoutMs);

  let status: number;
  let text: string;
  try {
    const response = await doFetch(url, {
      method: 'POST',
      headers,
      body: JSON.stringify(options.body),
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
    status = response.status;
    text = await response.text();
  } catch (error) {
    if (signal?.aborted) return fail('aborted', `request to ${url} aborted by the caller`);
    if (timeout.aborted) return fail('timeout', `no complete answer from ${url} within ${endpoint.timeoutMs} ms`);
    return fail('network', `request to ${url} failed: ${describeFetchError(error)}`);
  }

  if (status < 200 || status > 299) return fail('http', `${url} answered HTTP ${status}`, status, text);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return fail('bad_response', `${url} answered HTTP ${status} with a body that is not JSON`, status, text);
  }
  const parsed = completionSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`)
      .join('; ');
    return fail(
      'bad_response',
      `${url} answered with something that is not a chat completion: ${problems}`,
      status,
      text,
    );
  }
  // `.min(1)` above guarantees the first choice.
  const message = parsed.data.choices[0]!.message;
  return { ok: true, reply: { content: message.content ?? null, toolCalls: message.tool_calls ?? [] } };
}

function excerpt(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > BODY_EXCERPT_CHARS ? `${flat.slice(0, BODY_EXCERPT_CHARS)}…` : flat;
}

/** undici reports `fetch failed` and hides the reason (ECONNREFUSED, ENOTFOUND, …) in `cause`. */
function describeFetchError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause;
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    return `${error.message}: ${code && !cause.message.includes(code) ? `${code} ` : ''}${cause.message}`;
  }
  return error.message;
}
