import type { BackupDependencies } from '../backups/index.ts';

/**
 * What the backup tools act with: the backup dependencies, the one workspace they are bound to, and how state is
 * judged. Every lookup a tool makes is filtered by `workspaceId`, so an id of another workspace is not found.
 */
export interface ToolContext {
  backup: BackupDependencies;
  /** The turn's workspace: the tools read and act on it alone. */
  workspaceId: string;
  stateOptions: { overdueGraceMs: number; retryDelayMs: number };
  signal?: AbortSignal;
}
