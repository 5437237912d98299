import { keepEnd, redactSecrets, TypedFailure } from '../shared/index.ts';

const MAX_ERROR_LENGTH = 1_000;
const MAX_STDERR_LENGTH = 4_000;

/** What a failed restore's record says: the typed kind, a short redacted message and the stderr tail. */
export interface RestoreFailureSummary {
  kind: string;
  message: string;
  stderrTail: string | null;
}

/**
 * Turns whatever a restore threw into what its record stores. Typed failures (the import's and the pod lookup's) keep
 * their kind; anything else is `Unexpected`. Redacted once more and truncated: it is stored and shown as is.
 */
export function summarizeRestoreFailure(error: unknown): RestoreFailureSummary {
  const typed = error instanceof TypedFailure;
  const fields = error as { stderrTail?: unknown } | null;
  const message = error instanceof Error ? error.message : String(error);
  const stderrTail =
    typeof fields?.stderrTail === 'string' && fields.stderrTail
      ? keepEnd(redactSecrets(fields.stderrTail), MAX_STDERR_LENGTH)
      : null;
  return {
    kind: typed ? error.kind : 'Unexpected',
    message: keepEnd(redactSecrets(message), MAX_ERROR_LENGTH),
    stderrTail,
  };
}
