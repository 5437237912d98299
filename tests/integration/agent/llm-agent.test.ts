import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createLogger, type Logger } from '../../../src/lib/shared/logger.ts';
import { runAgentTurn, type AgentTurnReport, type LlmSettings } from '../../../src/lib/agent/llm-agent.ts';
import type { AgentTool, AnyAgentTool } from '../../../src/lib/agent/tool.ts';
import {
  startFakeLlmServer,
  type FakeLlmScript,
  type FakeLlmServer,
  type RecordedLlmRequest,
} from '../../support/fake-llm-server.js';

// The agent turn against a local server speaking the chat-completions protocol, with scripted model answers.

const API_KEY = 'sk-test-4f9c2a7e1b3d5f60';
const MODEL = 'test-model';
const SYSTEM_PROMPT = 'You are the ops agent. Use the tools; answer briefly.';
const STATE = 'deployments: shop-db (postgres), last backup failed';
const TIMEOUT_MS = 5_000;
const SHORT_TIMEOUT_MS = 100;
const SLOW_REPLY_MS = 5_000;
const MAX_STEPS = 3;

interface TestContext {
  executed: Array<{ tool: string; input: unknown }>;
}

const echo: AgentTool<TestContext, { text: string }, { text: string }> = {
  name: 'echo',
  description: 'Returns the text it is given.',
  inputSchema: z.object({ text: z.string().describe('Text to echo back.') }),
  async execute(input, context) {
    context.executed.push({ tool: 'echo', input });
    return { ok: true, value: { text: input.text } };
  },
};

const add: AgentTool<TestContext, { a: number; b: number }, { sum: number }> = {
  name: 'add',
  description: 'Adds two numbers.',
  inputSchema: z.object({ a: z.number().describe('First addend.'), b: z.number().describe('Second addend.') }),
  async execute(input, context) {
    context.executed.push({ tool: 'add', input });
    return { ok: true, value: { sum: input.a + input.b } };
  },
};

const deleteBackup: AgentTool<TestContext, { backupId: string }, never> = {
  name: 'delete_backup',
  description: 'Deletes a backup (always refused here).',
  inputSchema: z.object({ backupId: z.string().describe('Backup to delete.') }),
  async execute(input, context) {
    context.executed.push({ tool: 'delete_backup', input });
    return { ok: false, error: { code: 'REFUSED', message: 'deleting backups needs an operator' } };
  },
};

const countBytes: AgentTool<TestContext, Record<string, never>, { bytes: bigint }> = {
  name: 'count_bytes',
  description: 'Total size of all backups.',
  inputSchema: z.object({}),
  async execute(input, context) {
    context.executed.push({ tool: 'count_bytes', input });
    return { ok: true, value: { bytes: 2n ** 64n } };
  },
};

const TOOLS: readonly AnyAgentTool<TestContext>[] = [echo, add, deleteBackup, countBytes];

const servers: FakeLlmServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function startServer(script: FakeLlmScript): Promise<FakeLlmServer> {
  const server = await startFakeLlmServer({ script });
  servers.push(server);
  return server;
}

/** A debug-level logger writing JSON lines into memory. */
function captureLogs(): { logger: Logger; text(): string; entries(): Array<Record<string, unknown>> } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(
        ...chunk
          .toString('utf8')
          .split('\n')
          .filter((line) => line !== ''),
      );
      callback();
    },
  });
  return {
    logger: createLogger({ level: 'debug', destination }),
    text: () => lines.join('\n'),
    entries: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

async function runTurn(
  baseUrl: string,
  overrides: Partial<LlmSettings> & { tools?: readonly AnyAgentTool<TestContext>[]; signal?: AbortSignal } = {},
) {
  const { tools = TOOLS, signal, ...settings } = overrides;
  const logs = captureLogs();
  const context: TestContext = { executed: [] };
  const report = await runAgentTurn({
    settings: {
      baseUrl,
      model: MODEL,
      apiKey: API_KEY,
      maxSteps: MAX_STEPS,
      timeoutMs: TIMEOUT_MS,
      temperature: 0,
      ...settings,
    },
    systemPrompt: SYSTEM_PROMPT,
    userMessage: STATE,
    tools,
    context,
    logger: logs.logger,
    signal,
  });
  return { report, executed: context.executed, logs };
}

/** The tool messages the agent fed back in a recorded request, with their content parsed. */
function toolMessages(request: RecordedLlmRequest | undefined) {
  return (request?.body.messages ?? []).flatMap((message) =>
    message.role === 'tool'
      ? [{ toolCallId: message.tool_call_id, result: JSON.parse(message.content) as unknown }]
      : [],
  );
}

function expectStopped(report: AgentTurnReport, stoppedBecause: AgentTurnReport['stoppedBecause']) {
  expect(report.stoppedBecause, JSON.stringify(report)).toBe(stoppedBecause);
}

describe('what the agent sends', () => {
  it('sends the system prompt, the state and every tool with its JSON schema to <baseUrl>/chat/completions', async () => {
    const server = await startServer([{ content: 'Nothing to do.' }]);
    // A trailing slash must not produce `//chat/completions`.
    const { report } = await runTurn(`${server.baseUrl}/`);

    expectStopped(report, 'final_answer');
    expect(server.requests).toHaveLength(1);
    const [request] = server.requests;
    expect(request?.method).toBe('POST');
    expect(request?.path).toBe('/v1/chat/completions');
    expect(request?.headers['content-type']).toBe('application/json');
    expect(request?.body).toMatchObject({
      model: MODEL,
      tool_choice: 'auto',
      temperature: 0,
      messages: [
        { role: 'system', content: SYSTEM_PROMPT },
        { role: 'user', content: STATE },
      ],
    });
    expect(request?.body.tools?.map((tool) => tool.function.name)).toEqual([
      'echo',
      'add',
      'delete_backup',
      'count_bytes',
    ]);
    expect(request?.body.tools?.[1]).toEqual({
      type: 'function',
      function: {
        name: 'add',
        description: 'Adds two numbers.',
        parameters: {
          $schema: 'http://json-schema.org/draft-07/schema#',
          type: 'object',
          properties: {
            a: { type: 'number', description: 'First addend.' },
            b: { type: 'number', description: 'Second addend.' },
          },
          required: ['a', 'b'],
        },
      },
    });
  });

  it('sends the api key as a bearer token and never writes it to the log, even when the server echoes it', async () => {
    const server = await startServer([
      { toolCalls: [{ name: 'echo', arguments: JSON.stringify({ text: 'hi' }) }] },
      { status: 401, body: `invalid api key ${API_KEY} (header was "Bearer ${API_KEY}")` },
    ]);
    const { report, logs } = await runTurn(server.baseUrl);

    expectStopped(report, 'error');
    expect(server.requests.map((request) => request.headers.authorization)).toEqual([
      `Bearer ${API_KEY}`,
      `Bearer ${API_KEY}`,
    ]);
    expect(logs.text()).toContain('HTTP 401');
    expect(logs.text()).not.toContain(API_KEY);
    expect(report.error).not.toContain(API_KEY);
  });

  it('sends no authorization header without an api key', async () => {
    const server = await startServer([{ content: 'ok' }]);
    await runTurn(server.baseUrl, { apiKey: undefined, temperature: undefined });

    expect(server.requests[0]?.headers).not.toHaveProperty('authorization');
    expect(server.requests[0]?.body).not.toHaveProperty('temperature');
  });
});

describe('tool calls', () => {
  it('runs a valid tool call, feeds its result back and returns the final answer', async () => {
    const server = await startServer([
      {
        content: 'Let me add.',
        toolCalls: [{ name: 'add', arguments: JSON.stringify({ a: 2, b: 3 }), id: 'call_add' }],
      },
      { content: 'The sum is 5.' },
    ]);
    const { report, executed, logs } = await runTurn(server.baseUrl);

    expect(executed).toEqual([{ tool: 'add', input: { a: 2, b: 3 } }]);
    expect(server.requests).toHaveLength(2);
    expect(server.requests[1]?.body.messages.slice(2)).toEqual([
      {
        role: 'assistant',
        content: 'Let me add.',
        tool_calls: [{ id: 'call_add', type: 'function', function: { name: 'add', arguments: '{"a":2,"b":3}' } }],
      },
      { role: 'tool', tool_call_id: 'call_add', content: JSON.stringify({ ok: true, value: { sum: 5 } }) },
    ]);
    expect(report).toEqual({
      steps: 2,
      toolCalls: [{ step: 1, name: 'add', arguments: { a: 2, b: 3 }, ok: true, result: { sum: 5 } }],
      finalAnswer: 'The sum is 5.',
      stoppedBecause: 'final_answer',
      error: null,
    });
    expect(logs.entries()).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ level: 30, tool: 'add', ok: true, errorCode: null }),
        expect.objectContaining({ level: 30, answer: 'The sum is 5.', msg: 'LLM agent final answer' }),
      ]),
    );
  });

  it.each([
    {
      case: 'arguments of the wrong type',
      name: 'add',
      arguments: '{"a":"two","b":3}',
      code: 'INVALID_INPUT',
      mentions: 'a: Invalid input: expected number',
    },
    { case: 'a missing argument', name: 'echo', arguments: '{}', code: 'INVALID_INPUT', mentions: 'text:' },
    {
      case: 'malformed JSON arguments',
      name: 'echo',
      arguments: '{"text": "unterminated',
      code: 'INVALID_INPUT',
      mentions: 'not valid JSON',
    },
    {
      case: 'an unknown tool',
      name: 'drop_database',
      arguments: '{}',
      code: 'UNKNOWN_TOOL',
      mentions: 'no tool named "drop_database"',
    },
  ])('does not run anything for $case and feeds the error back so the model can correct itself', async (call) => {
    const server = await startServer([
      { toolCalls: [{ name: call.name, arguments: call.arguments, id: 'call_bad' }] },
      { content: 'Sorry.' },
    ]);
    const { report, executed, logs } = await runTurn(server.baseUrl);

    expect(executed).toEqual([]);
    const [fedBack] = toolMessages(server.requests[1]);
    expect(fedBack).toEqual({
      toolCallId: 'call_bad',
      result: { ok: false, error: { code: call.code, message: expect.stringContaining(call.mentions) } },
    });
    expect(report.toolCalls).toEqual([
      {
        step: 1,
        name: call.name,
        arguments: expect.anything(),
        ok: false,
        result: expect.objectContaining({ code: call.code }),
      },
    ]);
    expectStopped(report, 'final_answer');
    expect(logs.entries()).toContainEqual(
      expect.objectContaining({ level: 30, tool: call.name, ok: false, errorCode: call.code }),
    );
  });

  it('feeds a refused result back as data', async () => {
    const server = await startServer([
      { toolCalls: [{ name: 'delete_backup', arguments: '{"backupId":"b-1"}' }] },
      { content: 'An operator has to delete it.' },
    ]);
    const { report, executed } = await runTurn(server.baseUrl);

    expect(executed).toEqual([{ tool: 'delete_backup', input: { backupId: 'b-1' } }]);
    expect(toolMessages(server.requests[1])).toEqual([
      {
        toolCallId: 'call_1_1',
        result: { ok: false, error: { code: 'REFUSED', message: 'deleting backups needs an operator' } },
      },
    ]);
    expect(report.finalAnswer).toBe('An operator has to delete it.');
  });

  it('answers several tool calls of one step in order, one tool message each, and reports malformed arguments raw', async () => {
    const server = await startServer([
      {
        toolCalls: [
          { name: 'echo', arguments: '{"text":"first"}' },
          { name: 'echo', arguments: 'not json' },
          { name: 'count_bytes', arguments: '' },
        ],
      },
      { content: 'done' },
    ]);
    const { report } = await runTurn(server.baseUrl);

    expect(toolMessages(server.requests[1])).toEqual([
      { toolCallId: 'call_1_1', result: { ok: true, value: { text: 'first' } } },
      { toolCallId: 'call_1_2', result: { ok: false, error: expect.objectContaining({ code: 'INVALID_INPUT' }) } },
      // bigint goes to the model as its decimal string.
      { toolCallId: 'call_1_3', result: { ok: true, value: { bytes: '18446744073709551616' } } },
    ]);
    expect(report.toolCalls.map((call) => [call.name, call.arguments, call.ok])).toEqual([
      ['echo', { text: 'first' }, true],
      ['echo', 'not json', false],
      ['count_bytes', '', true],
    ]);
  });

  it('stops after maxSteps model calls when the model calls tools forever', async () => {
    const server = await startServer((_request, index) => ({
      toolCalls: [{ name: 'echo', arguments: JSON.stringify({ text: `round ${index + 1}` }) }],
    }));
    const { report, executed, logs } = await runTurn(server.baseUrl);

    expect(server.requests).toHaveLength(MAX_STEPS);
    expect(executed).toHaveLength(MAX_STEPS);
    expect(report).toMatchObject({ steps: MAX_STEPS, stoppedBecause: 'max_steps', finalAnswer: null, error: null });
    expect(report.toolCalls.map((call) => call.step)).toEqual([1, 2, 3]);
    // The last request carries the whole conversation: system, user, then (assistant, tool) per earlier step.
    expect(server.requests[MAX_STEPS - 1]?.body.messages).toHaveLength(2 + 2 * (MAX_STEPS - 1));
    expect(logs.entries()).toContainEqual(
      expect.objectContaining({ level: 40, msg: expect.stringContaining('after 3 model calls') }),
    );
  });
});

describe('failures end the turn as data, never as a throw', () => {
  it('stops with an error on HTTP 500 and logs the status with a short redacted body excerpt', async () => {
    const server = await startServer([
      { status: 500, body: `upstream exploded; retry with password=hunter2hunter2 ${'x'.repeat(2_000)}` },
    ]);
    const { report, logs } = await runTurn(server.baseUrl);

    expect(report).toMatchObject({
      steps: 1,
      stoppedBecause: 'error',
      finalAnswer: null,
      error: expect.stringContaining('HTTP 500'),
    });
    const logged = logs.entries().find((entry) => entry.level === 50);
    expect(logged).toMatchObject({
      status: 500,
      kind: 'http',
      bodyExcerpt: expect.stringContaining('upstream exploded'),
    });
    expect(String(logged?.bodyExcerpt).length).toBeLessThan(400);
    expect(logs.text()).not.toContain('hunter2');
  });

  it.each([
    { case: 'a body that is not JSON', rawBody: 'Bad Gateway, try later', mentions: 'not JSON' },
    { case: 'JSON that is not a completion', rawBody: '{"error":{"message":"model not loaded"}}', mentions: 'choices' },
    { case: 'no choices', rawBody: '{"choices":[]}', mentions: 'choices' },
    {
      case: 'a tool call without a name',
      rawBody: JSON.stringify({
        choices: [
          { message: { content: null, tool_calls: [{ id: 'c1', type: 'function', function: { arguments: '{}' } }] } },
        ],
      }),
      mentions: 'choices.0.message.tool_calls.0.function.name',
    },
  ])('stops with an error on $case', async ({ rawBody, mentions }) => {
    const server = await startServer([{ rawBody }]);
    const { report, executed, logs } = await runTurn(server.baseUrl);

    expect(report).toMatchObject({
      steps: 1,
      stoppedBecause: 'error',
      toolCalls: [],
      error: expect.stringContaining(mentions),
    });
    expect(executed).toEqual([]);
    expect(logs.entries()).toContainEqual(expect.objectContaining({ level: 50, kind: 'bad_response', status: 200 }));
  });

  it('stops with an error when the model does not answer within timeoutMs', async () => {
    const server = await startServer([{ delayMs: SLOW_REPLY_MS, content: 'too late' }]);
    const startedAt = performance.now();
    const { report, logs } = await runTurn(server.baseUrl, { timeoutMs: SHORT_TIMEOUT_MS });

    expect(performance.now() - startedAt).toBeLessThan(SLOW_REPLY_MS / 2);
    expect(report).toMatchObject({
      steps: 1,
      stoppedBecause: 'error',
      error: expect.stringContaining(`within ${SHORT_TIMEOUT_MS} ms`),
    });
    expect(logs.entries()).toContainEqual(expect.objectContaining({ level: 50, kind: 'timeout' }));
  });

  it('stops with an error when nothing listens at the base URL', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));

    const { report } = await runTurn(`http://127.0.0.1:${port}/v1`);

    expect(report).toMatchObject({ steps: 1, stoppedBecause: 'error', error: expect.stringContaining('ECONNREFUSED') });
  });

  it('stops with an error, before any request, when a tool schema has no JSON Schema form', async () => {
    const server = await startServer([{ content: 'unreachable' }]);
    const withBigintInput: AgentTool<TestContext, { bytes: bigint }, null> = {
      name: 'reserve_bytes',
      description: 'Takes a bigint, which JSON Schema cannot express.',
      inputSchema: z.object({ bytes: z.bigint() }),
      execute: async () => ({ ok: true, value: null }),
    };
    const { report, logs } = await runTurn(server.baseUrl, { tools: [echo, withBigintInput] });

    expect(report).toMatchObject({ steps: 0, stoppedBecause: 'error', error: expect.stringContaining('BigInt') });
    expect(server.requests).toEqual([]);
    expect(logs.entries()).toContainEqual(expect.objectContaining({ level: 50 }));
  });
});

describe('abort', () => {
  it('makes no request when the signal is already aborted', async () => {
    const server = await startServer([{ content: 'unreachable' }]);
    const { report } = await runTurn(server.baseUrl, { signal: AbortSignal.abort() });

    expect(report).toEqual({ steps: 0, toolCalls: [], finalAnswer: null, stoppedBecause: 'aborted', error: null });
    expect(server.requests).toEqual([]);
  });

  it('reports aborted, not an error, when the signal aborts while the model is thinking', async () => {
    const controller = new AbortController();
    const server = await startServer(() => {
      controller.abort();
      return { delayMs: SLOW_REPLY_MS, content: 'too late' };
    });
    const { report, logs } = await runTurn(server.baseUrl, { signal: controller.signal });

    expect(report).toMatchObject({ steps: 1, stoppedBecause: 'aborted', error: null });
    expect(logs.entries().filter((entry) => entry.level === 50)).toEqual([]);
  });

  it('runs no further tool calls once the signal aborts during a tool call', async () => {
    const controller = new AbortController();
    const abortCycle: AgentTool<TestContext, Record<string, never>, null> = {
      name: 'abort_cycle',
      description: 'Stands in for a shutdown arriving while a tool runs.',
      inputSchema: z.object({}),
      async execute() {
        controller.abort();
        return { ok: true, value: null };
      },
    };
    const server = await startServer([
      {
        toolCalls: [
          { name: 'abort_cycle', arguments: '{}' },
          { name: 'echo', arguments: '{"text":"after"}' },
        ],
      },
      { content: 'unreachable' },
    ]);
    const { report, executed } = await runTurn(server.baseUrl, {
      tools: [echo, abortCycle],
      signal: controller.signal,
    });

    expect(report).toMatchObject({ steps: 1, stoppedBecause: 'aborted' });
    expect(report.toolCalls.map((call) => call.name)).toEqual(['abort_cycle']);
    expect(executed).toEqual([]);
    expect(server.requests).toHaveLength(1);
  });
});
