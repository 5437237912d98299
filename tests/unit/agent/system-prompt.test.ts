import { describe, expect, it } from 'vitest';
import {
  assembleBackupState,
  type DeploymentRow,
  type RecordRow,
  type StatsRow,
} from '../../../src/lib/backups/backup-state.ts';
import { BACKUP_GUIDANCE, buildSystemPrompt } from '../../../src/lib/agent/system-prompt.ts';

// The agent's system prompt: the sentences its behaviour rests on, and the state rendered into it (plain rows, no DB).

const T0 = new Date('2026-03-01T05:30:00Z');
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const OPTIONS = { now: T0, overdueGraceMs: HOUR, retryDelayMs: 15 * MINUTE };
const at = (offsetMs: number) => new Date(T0.getTime() + offsetMs);

function deploymentRow(overrides: Partial<DeploymentRow> & Pick<DeploymentRow, 'id' | 'name'>): DeploymentRow {
  return {
    workspaceId: 'ws1',
    workspaceSlug: 'acme',
    status: 'RUNNING',
    recipeSlug: 'postgresql',
    backupEnabled: true,
    backupSchedule: '0 3 * * *',
    backupTimezone: 'UTC',
    backupRetention: 10,
    lastBackupAt: at(-2 * HOUR),
    createdAt: at(-30 * DAY),
    ...overrides,
  };
}

/** shop: overdue (last success yesterday, 03:00 fired 2.5 h ago); logs: 25 stored backups; legacy: FAILED. */
const DEPLOYMENTS: DeploymentRow[] = [
  deploymentRow({ id: 'dshop01', name: 'shop-db', lastBackupAt: at(-DAY) }),
  deploymentRow({ id: 'dlogs01', name: 'logs-db' }),
  deploymentRow({ id: 'dlegacy1', name: 'legacy-db', status: 'FAILED' }),
];
const STATS: StatsRow[] = [
  { deploymentId: 'dshop01', storedBackups: 4, storedBytes: '4096', lastFailedAt: at(-HOUR) },
  { deploymentId: 'dlogs01', storedBackups: 25, storedBytes: '26214400', lastFailedAt: null },
];
const RECORDS: RecordRow[] = [
  {
    id: 'bfail1',
    deploymentId: 'dshop01',
    status: 'FAILED',
    trigger: 'SCHEDULE',
    startedAt: at(-2 * HOUR),
    errorKind: 'ExecFailed',
    error: 'pg_dump exited with 1',
    sameStatusCount: 2,
  },
  {
    id: 'bfail2',
    deploymentId: 'dshop01',
    status: 'FAILED',
    trigger: 'SCHEDULE',
    startedAt: at(-HOUR),
    errorKind: 'Timeout',
    error: 'no output for 60 s',
    sameStatusCount: 2,
  },
];

describe('BACKUP_GUIDANCE', () => {
  it.each([
    { duty: 'check every schedule each cycle', sentence: /check every deployment’s backup schedule each cycle/i },
    {
      duty: 'run backups that are due',
      sentence: /run a backup yourself \(runBackup\) only when one is due or overdue and none is running/,
    },
    {
      duty: 'treat failures as critical, a data-loss risk',
      sentence: /treat every failed backup as critical: it is a data-loss risk/i,
    },
    {
      duty: 'suggest pruning above 20 backups',
      sentence: /suggest pruning when a deployment has more than 20 stored backups/i,
    },
    {
      duty: 'preview pruning with a dry run and confirm that plan',
      sentence:
        /preview with pruneOldBackups \(a dry run by default\) and delete only that plan, passing its expectDelete/,
    },
    {
      duty: 'never back up FAILED deployments',
      sentence: /never back up a FAILED deployment: it may produce corrupt data/i,
    },
    { duty: 'explain every skip', sentence: /explain every skip: say which deployment was not backed up and why/i },
    { duty: 'use only listed ids', sentence: /do not invent ids/i },
    {
      duty: 'treat restores as proposals for a person',
      sentence: /restores over live data are only proposals \(proposeRestore\): a person approves and confirms them/i,
    },
  ])('tells the agent to $duty', ({ sentence }) => {
    expect(BACKUP_GUIDANCE.filter((line) => sentence.test(line))).toHaveLength(1);
  });
});

describe('buildSystemPrompt', () => {
  const state = assembleBackupState(DEPLOYMENTS, STATS, RECORDS, null, OPTIONS);
  const prompt = buildSystemPrompt(state);

  it('contains every guidance sentence as a bullet', () => {
    for (const sentence of BACKUP_GUIDANCE) expect(prompt).toContain(`- ${sentence}`);
  });

  it('contains the rendered state: totals, every deployment id, OVERDUE, failures and the prune suggestion', () => {
    expect(prompt).toContain('Backup state at 2026-03-01T05:30:00.000Z:');
    expect(prompt).toContain(
      '3 deployments with backups on; 1 due, 0 running, 1 overdue, 1 failing; 29 backups stored',
    );
    expect(prompt).toContain('Backup volume: usage unknown.');
    for (const id of ['dshop01', 'dlogs01', 'dlegacy1']) expect(prompt).toContain(`id=${id}`);
    expect(prompt).toContain('- acme/shop-db id=dshop01 status=RUNNING recipe=postgresql');
    expect(prompt).toContain('OVERDUE by 2h 30m (due 2026-03-01T03:00:00.000Z)');
    expect(prompt).toContain('2 FAILED since last success');
    expect(prompt).toContain('    - failed 2026-03-01T04:30:00.000Z Timeout: no output for 60 s');
    expect(prompt).toContain('More than 20 stored backups (suggest pruning): logs-db (25, id=dlogs01).');
    expect(prompt).toContain('- acme/legacy-db id=dlegacy1 status=FAILED');
    expect(prompt).toContain('not due: DEPLOYMENT_NOT_RUNNING');
  });

  it('lists the most urgent deployment (overdue) first and the state after the guidance', () => {
    const blockOf = (name: string) => prompt.indexOf(`- acme/${name} id=`);
    expect(blockOf('shop-db')).toBeGreaterThan(0);
    expect(blockOf('shop-db')).toBeLessThan(blockOf('legacy-db'));
    expect(blockOf('legacy-db')).toBeLessThan(blockOf('logs-db'));
    expect(prompt.indexOf('Backup guidance:')).toBeLessThan(prompt.indexOf('Backup state at'));
  });

  it('says so when no deployment needs pruning', () => {
    const small = assembleBackupState(DEPLOYMENTS.slice(0, 1), STATS.slice(0, 1), [], null, OPTIONS);
    expect(buildSystemPrompt(small)).toContain('No deployment has more than 20 stored backups.');
  });
});
