import { Writable } from 'node:stream';
import type { Exec } from '@kubernetes/client-node';
import { execToStream } from '../kube/index.ts';
import type { Logger } from '../shared/index.ts';

/**
 * The live table count taken just before an export (the recipe's `dataExport.liveTables`), for the format check to
 * compare with the tables the dump holds. It is a hint, never a condition: a count that fails or prints anything but
 * a whole number leaves the coverage unknown, and the backup goes on.
 */

/** The count, or why there is none (for the log; redacted). */
export type LiveTableCount = { ok: true; count: number } | { ok: false; problem: string };

/** The count never takes long (the catalog only); a hung one must not hold the backup up. */
export const LIVE_TABLES_TIMEOUT_MS = 30_000;
/** One line with a number: anything longer is not the count. */
const MAX_OUTPUT_BYTES = 1_024;

/**
 * Reads the count's output: one line holding a whole number of at most 7 digits (more tables than any database has),
 * surrounding blanks allowed, nothing else. Pure.
 */
export function parseLiveTableCount(stdout: string): LiveTableCount {
  const text = stdout.trim();
  if (!/^\d{1,7}$/.test(text)) {
    const shown = text.length > 40 ? `${text.slice(0, 40)}…` : text;
    return { ok: false, problem: `the count printed ${JSON.stringify(shown)}, not a whole number of tables` };
  }
  return { ok: true, count: Number(text) };
}

export interface LiveTableCountRequest {
  namespace: string;
  pod: string;
  container: string;
  command: readonly string[];
  /** The export's own limit; the count gets at most {@link LIVE_TABLES_TIMEOUT_MS} of it. */
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** Redacts the pod's secret values from what the command prints. */
  redact: (text: string) => string;
}

/**
 * Runs the count in the export's pod through the same exec as the export, and parses it. Never rejects: a failure
 * (a non-zero exit, a timeout, an aborted backup, garbage) is logged as a warning and returned as `{ ok: false }`.
 */
export async function countLiveTables(
  exec: Exec,
  request: LiveTableCountRequest,
  logger: Logger,
): Promise<LiveTableCount> {
  const timeoutMs = Math.min(request.timeoutMs, LIVE_TABLES_TIMEOUT_MS);
  const output = boundedText(MAX_OUTPUT_BYTES);
  let counted: LiveTableCount;
  try {
    await execToStream(exec, {
      namespace: request.namespace,
      pod: request.pod,
      container: request.container,
      command: [...request.command],
      destination: output.stream,
      timeoutMs,
      stallMs: timeoutMs,
      signal: request.signal,
      redact: request.redact,
    });
    // Parsed as printed (a number is no secret); only what goes into the problem is redacted.
    const parsed = parseLiveTableCount(output.text());
    counted = parsed.ok ? parsed : { ok: false, problem: request.redact(parsed.problem) };
  } catch (error) {
    counted = { ok: false, problem: error instanceof Error ? request.redact(error.message) : String(error) };
  }
  if (counted.ok) logger.info({ pod: request.pod, liveTables: counted.count }, 'live tables counted');
  else logger.warn({ pod: request.pod }, `live tables not counted, table coverage unknown: ${counted.problem}`);
  return counted;
}

/** A sink that keeps what it is given as text, and fails once more than `maxBytes` arrive. */
function boundedText(maxBytes: number): { stream: Writable; text: () => string } {
  const chunks: Buffer[] = [];
  let bytes = 0;
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      if (bytes > maxBytes) return callback(new Error(`the count printed more than ${maxBytes} bytes`));
      chunks.push(chunk);
      callback();
    },
  });
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}
