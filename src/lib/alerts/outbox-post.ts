import { redactSecrets } from '../shared/index.ts';
import { isRetryableStatus } from './delivery-plan.ts';

const MAX_ERROR_LENGTH = 500;

/**
 * How one POST of an outbox row (an alert delivery, a dead-man ping) went: the receiver took it (2xx), or why not,
 * whether trying again may help (a network failure, a timeout, 5xx, 408, 429) and whether the sender's own stop
 * aborted it (then it is not the receiver's fault).
 */
export type OutboxPostResult = { ok: true } | { ok: false; reason: string; retryable: boolean; aborted: boolean };

export interface OutboxPostOptions {
  fetch?: typeof fetch | undefined;
  timeoutMs: number;
  /** The sender stopping: aborts the POST in flight. */
  signal?: AbortSignal | undefined;
  /** What stands for the URL in a failure's text (it may carry a token or the check's secret): `<webhook>`. */
  urlPlaceholder: string;
}

/** POSTs once and classifies the answer; never throws. The response body is not read (receivers answer "OK"). */
export async function postOutboxRow(
  url: string,
  init: { headers: Record<string, string>; body?: string },
  options: OutboxPostOptions,
): Promise<OutboxPostResult> {
  try {
    const signals = [AbortSignal.timeout(options.timeoutMs), ...(options.signal ? [options.signal] : [])];
    const response = await (options.fetch ?? fetch)(url, {
      method: 'POST',
      headers: init.headers,
      ...(init.body === undefined ? {} : { body: init.body }),
      signal: AbortSignal.any(signals),
    });
    await response.body?.cancel().catch(() => undefined);
    if (response.ok) return { ok: true };
    return {
      ok: false,
      reason: `HTTP ${response.status}`,
      retryable: isRetryableStatus(response.status),
      aborted: false,
    };
  } catch (error) {
    return {
      ok: false,
      reason: describePostFailure(error, url, options.urlPlaceholder),
      retryable: true,
      aborted: options.signal?.aborted === true,
    };
  }
}

/** A network failure in words (with its code, e.g. ECONNREFUSED), without the URL or anything secret. */
function describePostFailure(error: unknown, url: string, placeholder: string): string {
  const cause = error instanceof Error ? (error.cause as { code?: unknown } | undefined) : undefined;
  const code = typeof cause?.code === 'string' ? ` (${cause.code})` : '';
  const message = `${error instanceof Error ? error.message : String(error)}${code}`.replaceAll(url, placeholder);
  return redactSecrets(message).slice(0, MAX_ERROR_LENGTH);
}
