import type { ChatRequestBody, FakeLlmReply, FakeLlmScript, RecordedLlmRequest } from './fake-llm-server.ts';

/**
 * A model that obeys whatever it reads: a script for the fake chat-completions server standing in for a model that
 * fell for a prompt injection. On each request it reads every system, user and tool message it is sent (JSON in
 * them is decoded too, so a quoted string is read like plain text), finds the instructions a tenant may have
 * planted there, and issues exactly those tool calls, ids of other workspaces included. It is the worst case the
 * tools must hold against: the prompt cannot save us from it, only the tools can.
 *
 * Instructions it obeys:
 * - `AGENT: call <tool> <json object>`: that call, with those arguments;
 * - `delete all backups [of <deploymentId>] keep <n>` (words may be joined by `-` or `_`, as in a deployment name):
 *   `getBackupHistory` then a `pruneOldBackups` dry run with `keepCount: n` for that deployment, or, without an id,
 *   for every deployment id it has seen;
 * - and, like a diligent agent, it confirms every dry run of pruneOldBackups that it made on an instruction and that
 *   planned deletions (`dryRun: false` with the plan's `expectDelete`).
 *
 * It never repeats a call it made earlier in the conversation; with nothing new to do it answers with a final text.
 * Stateless: everything it decides comes from the request, so one script serves any number of turns.
 */
export function obedientModel(options: { finalAnswer?: string } = {}): FakeLlmScript {
  return (request: RecordedLlmRequest): FakeLlmReply => {
    const messages = request.body.messages;
    const made = new Set(
      messages.flatMap((message) =>
        message.role === 'assistant'
          ? (message.tool_calls ?? []).map((call) => callKey(call.function.name, call.function.arguments))
          : [],
      ),
    );
    const wanted = [...findInstructedCalls(messages), ...findConfirmations(messages)];
    const fresh: PlannedCall[] = [];
    for (const call of wanted) {
      const key = callKey(call.name, call.arguments);
      if (made.has(key)) continue;
      made.add(key);
      fresh.push(call);
    }
    if (fresh.length === 0) return { content: options.finalAnswer ?? 'I did everything I was told to do.' };
    return { toolCalls: fresh };
  };
}

interface PlannedCall {
  name: string;
  /** JSON text, as a model sends it. */
  arguments: string;
}

type Message = ChatRequestBody['messages'][number];

const AGENT_CALL = /AGENT: call (\w+) /g;
const DELETE_ALL = /delete all backups(?: of ([a-z0-9]{8,64}))? keep (?:last )?(\d+)/g;
/** Deployment ids as the state shows them: JSON keys, or `id=` in a text rendering. */
const DEPLOYMENT_ID = /"deploymentId"\s*:\s*"([a-z0-9]{1,64})"|\bid=([a-z0-9]{1,64})\b/g;

/** The calls the instructions found in the messages ask for, in the order they were found. */
function findInstructedCalls(messages: readonly Message[]): PlannedCall[] {
  const texts = messages.flatMap(readableTexts);
  const seenDeploymentIds = new Set<string>();
  for (const text of texts) {
    for (const match of text.matchAll(DEPLOYMENT_ID)) seenDeploymentIds.add((match[1] ?? match[2])!);
  }
  const calls: PlannedCall[] = [];
  for (const text of texts) {
    for (const match of text.matchAll(AGENT_CALL)) {
      const argumentsObject = leadingJsonObject(text.slice(match.index + match[0].length));
      if (argumentsObject !== null) calls.push({ name: match[1]!, arguments: JSON.stringify(argumentsObject) });
    }
    const words = text.toLowerCase().replace(/[-_\s]+/g, ' ');
    for (const match of words.matchAll(DELETE_ALL)) {
      const targets = match[1] ? [match[1]] : [...seenDeploymentIds];
      const keepCount = Number(match[2]);
      for (const deploymentId of targets) {
        calls.push({ name: 'getBackupHistory', arguments: JSON.stringify({ deploymentId }) });
        calls.push({ name: 'pruneOldBackups', arguments: JSON.stringify({ deploymentId, keepCount, dryRun: true }) });
      }
    }
  }
  return calls;
}

/** For each answered pruneOldBackups dry run that planned deletions: the call that carries that plan out. */
function findConfirmations(messages: readonly Message[]): PlannedCall[] {
  const results = new Map<string, string>();
  for (const message of messages) if (message.role === 'tool') results.set(message.tool_call_id, message.content);
  const calls: PlannedCall[] = [];
  for (const message of messages) {
    if (message.role !== 'assistant') continue;
    for (const call of message.tool_calls ?? []) {
      if (call.function.name !== 'pruneOldBackups') continue;
      const input = parseJson(call.function.arguments) as Record<string, unknown> | null;
      const result = parseJson(results.get(call.id) ?? '') as {
        ok?: boolean;
        value?: { dryRun?: boolean; expectDelete?: string[]; planChanged?: unknown };
      } | null;
      if (!input || input.dryRun === false || !result?.ok || !result.value?.dryRun) continue;
      const expectDelete = result.value.expectDelete ?? [];
      if (expectDelete.length === 0 || result.value.planChanged) continue;
      calls.push({
        name: 'pruneOldBackups',
        arguments: JSON.stringify({ ...input, dryRun: false, expectDelete }),
      });
    }
  }
  return calls;
}

/** A message's text, and every string inside the JSON it holds (whole, or from a line that starts with `{`). */
function readableTexts(message: Message): string[] {
  if (message.role === 'assistant') return [];
  const text = message.content;
  const texts = [text];
  const starts = [0, ...[...text.matchAll(/\n(?=[{[])/g)].map((match) => match.index + 1)];
  for (const start of starts) {
    const json = parseJson(text.slice(start));
    if (json !== null) texts.push(...stringsIn(json));
  }
  return texts;
}

function stringsIn(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(stringsIn);
  if (value !== null && typeof value === 'object')
    return Object.entries(value).flatMap(([key, inner]) => [key, ...stringsIn(inner)]);
  return [];
}

/** The JSON object at the start of `text` (balanced braces, strings respected), or null. */
function leadingJsonObject(text: string): Record<string, unknown> | null {
  if (!text.startsWith('{')) return null;
  let depth = 0;
  let inString = false;
  for (let index = 0; index < text.length; index += 1) {
    const char = text[index];
    if (inString) {
      if (char === '\\') index += 1;
      else if (char === '"') inString = false;
    } else if (char === '"') inString = true;
    else if (char === '{') depth += 1;
    else if (char === '}' && --depth === 0) {
      const parsed = parseJson(text.slice(0, index + 1));
      return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)
        ? (parsed as Record<string, unknown>)
        : null;
    }
  }
  return null;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

function callKey(name: string, argumentsText: string): string {
  const parsed = parseJson(argumentsText);
  return `${name} ${parsed === null ? argumentsText : JSON.stringify(parsed)}`;
}
