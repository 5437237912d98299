import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';

/**
 * A local OpenAI-compatible chat-completions server that answers from a script. It checks requests the way the real
 * API does (message shapes, every tool message answering a preceding tool call, every tool call answered) and replies
 * 400 when they break the protocol, so a client that passes against it speaks the protocol rather than our guess of it.
 */

/** One scripted answer; `delayMs` holds it back (for timeouts and aborts). `{}` alone is a final answer with empty content. */
export type FakeLlmReply = (
  | { toolCalls: Array<{ name: string; arguments: string; id?: string }>; content?: string | null }
  | { content: string | null }
  | { status: number; body: string }
  | { rawBody: string }
  | Record<never, never>
) & { delayMs?: number };

export type FakeLlmScript = FakeLlmReply[] | ((request: RecordedLlmRequest, index: number) => FakeLlmReply);

export interface RecordedLlmRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: ChatRequestBody;
}

export interface FakeLlmServer {
  /** Like `http://127.0.0.1:PORT/v1`. */
  baseUrl: string;
  requests: RecordedLlmRequest[];
  close(): Promise<void>;
}

const toolCallSchema = z.object({
  id: z.string().min(1),
  type: z.literal('function'),
  function: z.object({ name: z.string().min(1), arguments: z.string() }),
});
const messageSchema = z.discriminatedUnion('role', [
  z.object({ role: z.enum(['system', 'user']), content: z.string() }),
  z.object({
    role: z.literal('assistant'),
    content: z.string().nullable(),
    tool_calls: z.array(toolCallSchema).min(1).optional(),
  }),
  z.object({ role: z.literal('tool'), tool_call_id: z.string().min(1), content: z.string() }),
]);
const requestBodySchema = z.object({
  model: z.string().min(1),
  messages: z.array(messageSchema).min(1),
  tools: z
    .array(
      z.object({
        type: z.literal('function'),
        function: z.object({
          name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/),
          description: z.string().optional(),
          parameters: z.record(z.string(), z.unknown()).optional(),
        }),
      }),
    )
    .optional(),
  tool_choice: z.enum(['none', 'auto', 'required']).optional(),
  temperature: z.number().min(0).max(2).optional(),
});
export type ChatRequestBody = z.infer<typeof requestBodySchema>;

/** Fixed, so responses are reproducible; clients do not read it. */
const CREATED_SECONDS = 1_772_330_340;

export async function startFakeLlmServer(options: { script: FakeLlmScript }): Promise<FakeLlmServer> {
  const requests: RecordedLlmRequest[] = [];
  const pendingReplies = new Set<NodeJS.Timeout>();

  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      if (request.method !== 'POST' || request.url !== '/v1/chat/completions') {
        return sendJson(response, 404, openAiError(`no route ${request.method} ${request.url}`));
      }
      let json: unknown;
      try {
        json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return sendJson(response, 400, openAiError('request body is not JSON'));
      }
      const parsed = requestBodySchema.safeParse(json);
      if (!parsed.success)
        return sendJson(response, 400, openAiError(`invalid request: ${z.prettifyError(parsed.error)}`));
      const conversationProblem = findConversationProblem(parsed.data.messages);
      if (conversationProblem) return sendJson(response, 400, openAiError(conversationProblem));

      const recorded: RecordedLlmRequest = {
        method: request.method,
        path: request.url,
        headers: request.headers,
        body: parsed.data,
      };
      const index = requests.push(recorded) - 1;
      const reply = typeof options.script === 'function' ? options.script(recorded, index) : options.script[index];
      if (!reply) {
        return sendJson(response, 500, openAiError(`fake LLM script exhausted: no reply #${index + 1}`));
      }
      const answer = () => sendReply(response, reply, index, parsed.data.model);
      if (!reply.delayMs) return answer();
      const timer = setTimeout(() => {
        pendingReplies.delete(timer);
        if (!response.destroyed) answer();
      }, reply.delayMs);
      pendingReplies.add(timer);
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    async close() {
      for (const timer of pendingReplies) clearTimeout(timer);
      pendingReplies.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
}

function sendReply(response: ServerResponse, reply: FakeLlmReply, index: number, model: string): void {
  if ('status' in reply) {
    response.writeHead(reply.status, { 'content-type': 'text/plain' }).end(reply.body);
    return;
  }
  if ('rawBody' in reply) {
    response.writeHead(200, { 'content-type': 'application/json' }).end(reply.rawBody);
    return;
  }
  const toolCalls =
    'toolCalls' in reply
      ? reply.toolCalls.map((call, position) => ({
          id: call.id ?? `call_${index + 1}_${position + 1}`,
          type: 'function' as const,
          function: { name: call.name, arguments: call.arguments },
        }))
      : [];
  const content = 'content' in reply ? (reply.content ?? null) : toolCalls.length > 0 ? null : '';
  sendJson(response, 200, {
    id: `chatcmpl-fake-${index + 1}`,
    object: 'chat.completion',
    created: CREATED_SECONDS,
    model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content, ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}) },
        finish_reason: toolCalls.length > 0 ? 'tool_calls' : 'stop',
      },
    ],
    usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
  });
}

/** The ordering rules the OpenAI API enforces on tool messages. */
function findConversationProblem(messages: ChatRequestBody['messages']): string | null {
  let unanswered = new Set<string>();
  for (const [position, message] of messages.entries()) {
    if (message.role === 'tool') {
      if (!unanswered.delete(message.tool_call_id)) {
        return `messages[${position}]: role 'tool' must respond to a tool_call_id of the preceding assistant message, got ${message.tool_call_id}`;
      }
      continue;
    }
    if (unanswered.size > 0) {
      return `messages[${position}]: the assistant tool_calls ${[...unanswered].join(', ')} were not answered by tool messages`;
    }
    unanswered = new Set(message.role === 'assistant' ? (message.tool_calls ?? []).map((call) => call.id) : []);
  }
  return unanswered.size > 0
    ? `the assistant tool_calls ${[...unanswered].join(', ')} were not answered by tool messages`
    : null;
}

function openAiError(message: string) {
  return { error: { message, type: 'invalid_request_error', param: null, code: null } };
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}
