import type { AlertSeverity, PrismaClient } from '../../generated/prisma/client.ts';
import { type BackupState, gatherBackupState } from '../backups/index.ts';
import type { SqlQuery } from '../db/index.ts';

/** An open alert of the workspace, as the agent is shown it (its message is untrusted: it quotes names and stderr). */
export interface OpenAlert {
  deploymentId: string | null;
  kind: string;
  severity: AlertSeverity;
  message: string;
  occurrences: number;
  createdAt: Date;
  lastSeenAt: Date;
}

/** What one agent turn is shown: one workspace's backup state and its open alerts, nothing of any other workspace. */
export interface WorkspaceState {
  workspace: { id: string; slug: string };
  backups: BackupState;
  /** Newest first, at most {@link OPEN_ALERTS_SHOWN}. */
  openAlerts: OpenAlert[];
}

/** Open alerts shown to the agent per turn (the newest; a person sees them all on the dashboard). */
export const OPEN_ALERTS_SHOWN = 20;

/**
 * Gathers the state of one workspace for its agent turn: the backup state of its backup-enabled deployments (every
 * query filtered by the workspace) and its open alerts, among which the test-restore findings (`data_shrank`,
 * `test_restore_failed`) and unverified backups that the backup state does not carry.
 */
export async function gatherWorkspaceState(
  deps: { db: PrismaClient; query?: SqlQuery; store: { root: string } },
  workspaceId: string,
  options: { now: Date; overdueGraceMs: number; retryDelayMs: number },
): Promise<WorkspaceState> {
  const [workspace, backups, openAlerts] = await Promise.all([
    deps.db.workspace.findUniqueOrThrow({ where: { id: workspaceId }, select: { id: true, slug: true } }),
    gatherBackupState(deps.db, { ...options, workspaceId, backupRoot: deps.store.root, query: deps.query }),
    deps.db.alert.findMany({
      where: { workspaceId, resolvedAt: null },
      orderBy: [{ lastSeenAt: 'desc' }, { id: 'asc' }],
      take: OPEN_ALERTS_SHOWN,
      select: {
        deploymentId: true,
        kind: true,
        severity: true,
        message: true,
        occurrences: true,
        createdAt: true,
        lastSeenAt: true,
      },
    }),
  ]);
  return { workspace, backups, openAlerts };
}

/**
 * The workspaces that get an agent turn: those with at least one backup-enabled deployment, limited to `only`
 * (`AGENT_WORKSPACE_ID`) when it is set. In a stable order (by id), so the turns run in the same order every cycle.
 */
export async function listAgentWorkspaces(db: PrismaClient, only: string | null): Promise<string[]> {
  const workspaces = await db.workspace.findMany({
    where: { ...(only === null ? {} : { id: only }), deployments: { some: { backupEnabled: true } } },
    select: { id: true },
    orderBy: { id: 'asc' },
  });
  return workspaces.map((workspace) => workspace.id);
}
