const TONES: Record<string, string> = {
  SUCCEEDED: 'ok',
  RUNNING: 'info running',
  FAILED: 'bad',
  OVERDUE: 'warn',
  NONE: 'neutral',
  PROPOSED: 'warn',
  QUEUED: 'info',
  CANCELLED: 'neutral',
};

const WORDS: Record<string, string> = { NONE: 'NO BACKUP YET' };

/** A backup (or restore) status as a coloured word (the colour repeats the word; it never replaces it). */
export function StatusBadge({ status }: { status: string }) {
  return <span className={`badge ${TONES[status] ?? 'neutral'}`}>{WORDS[status] ?? status}</span>;
}
