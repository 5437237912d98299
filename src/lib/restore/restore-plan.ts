import type { DataCounts } from './count-lines.ts';
import { totalOf } from './count-lines.ts';

export interface LivePlanInput {
  workspaceSlug: string;
  deploymentName: string;
  namespace: string;
  recipeName: string;
  /** The live database as the pod's count step named it. */
  live: DataCounts;
  backup: { id: string; startedAt: Date; sizeBytes: bigint | null; sha256: string; format: string | null };
  /** Until when the token works; null for an agent's proposal, which has no token until a person approves it. */
  expiresAt: Date | null;
}

/** Table lines shown in a plan; the rest are summarised. */
const MAX_LISTED = 40;

/** What each format's live restore does to the data that is there, in one sentence. */
const EFFECTS: Record<string, string> = {
  'postgres-custom':
    'Every table, view, sequence and function in the backup is dropped and recreated from it, in one transaction (a failure changes nothing); objects created after the backup are left as they are.',
  'mysql-sql':
    'Every table in the backup is dropped and recreated from it, statement by statement (a failure stops at that statement and leaves the database partly restored); tables created after the backup are left as they are.',
  'redis-rdb':
    'The whole dataset of the server (every logical database) is replaced by the backup; the server refuses writes until the copy is complete.',
  'mongo-archive':
    'Each collection in the backup is dropped and restored from it; other collections are left as they are.',
};

/**
 * The dry-run's description of a destructive restore, for the person who confirms it: what will be overwritten (the
 * live database and what it holds now), with what (the backup's time, size and checksum), how, and until when the
 * confirmation token works. Pure.
 */
export function describeLivePlan(input: LivePlanInput): string {
  const { live, backup } = input;
  const listed = 'tables' in live.counts ? live.counts.tables : live.counts.keys;
  const entries = Object.entries(listed).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const summary = totalOf(live.counts);
  const itemWord = 'tables' in live.counts ? 'tables' : 'logical databases';
  const lines = [
    `DESTRUCTIVE restore of ${input.workspaceSlug}/${input.deploymentName} (${input.recipeName}, namespace ${input.namespace}).`,
    `Will overwrite: live database "${live.database ?? 'unknown'}", which holds now ${summary.items} ${itemWord} with ${summary.total} ${summary.unit}:`,
    ...entries.slice(0, MAX_LISTED).map(([name, count]) => `  ${name}: ${count} ${summary.unit}`),
    ...(entries.length > MAX_LISTED ? [`  … and ${entries.length - MAX_LISTED} more`] : []),
    `With backup ${backup.id}, taken ${backup.startedAt.toISOString()}, ${backup.sizeBytes ?? '?'} bytes, sha256 ${backup.sha256}` +
      `${backup.format ? `, format ${backup.format}` : ''}.`,
    EFFECTS[backup.format ?? ''] ?? 'The live data is replaced by the backup.',
    input.expiresAt
      ? `Confirm before ${input.expiresAt.toISOString()} with the confirmation token; it works once.`
      : 'Proposed: a person must approve it to get a confirmation token.',
  ];
  return lines.join('\n');
}
