import type { BackupDependencies } from '../backups/index.ts';

/** What the backup tools act with: the backup dependencies, the agent's scope, and how state is judged. */
export interface ToolContext {
  backup: BackupDependencies;
  /** The agent's scope: one workspace, or null for all. */
  workspaceId: string | null;
  stateOptions: { overdueGraceMs: number; retryDelayMs: number };
  signal?: AbortSignal;
}
