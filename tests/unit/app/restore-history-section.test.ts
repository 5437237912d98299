import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { RestoreHistorySection } from '../../../src/app/_components/restore-history-section.tsx';
import type { RestoreHistoryItem } from '../../../src/lib/web/restore-history.ts';
import type { TestRestoreSummary } from '../../../src/lib/web/test-restore-summary.ts';

// The Restores section as the server renders it: a finished test-restore with its counts, and an agent's proposal
// with its plan and the steps a person takes (commands and API paths, a placeholder where the token goes).

const NOW = new Date('2026-11-25T12:00:00Z');
const ID = 'ckrestore00000000000000009';
const TEST_RESTORES_OFF: TestRestoreSummary = {
  schedule: null,
  scheduleDescription: 'no test-restores scheduled',
  dueNow: false,
  nextRunAt: null,
  last: null,
  shrinkWarning: null,
};

function item(fields: Partial<RestoreHistoryItem>): RestoreHistoryItem {
  return {
    id: ID,
    kind: 'DESTRUCTIVE',
    status: 'PROPOSED',
    trigger: 'AGENT',
    requestedBy: 'agent',
    confirmedBy: null,
    target: 'app',
    backupRecordId: 'b',
    backupStartedAt: '2026-11-25T03:00:00.000Z',
    backupSha256: 'a'.repeat(64),
    createdAt: '2026-11-25T11:00:00.000Z',
    startedAt: null,
    finishedAt: null,
    durationMs: null,
    bytesRestored: null,
    progressBytes: null,
    progressAt: null,
    counts: null,
    countsSummary: null,
    errorKind: null,
    error: null,
    plan: null,
    confirmExpiresAt: null,
    nextStep: null,
    ...fields,
  };
}

const render = (items: RestoreHistoryItem[], canRestore = true) =>
  renderToStaticMarkup(
    createElement(RestoreHistorySection, { items, testRestore: TEST_RESTORES_OFF, now: NOW, canRestore }),
  );

describe('RestoreHistorySection', () => {
  it('shows a proposal’s plan and how to approve, confirm or cancel it', () => {
    const html = render([
      item({
        plan: 'Overwrites database app: public.orders (1,200 rows).',
        nextStep: {
          state: 'awaiting-approval',
          approveCommand: `npm run restore -- approve ${ID}`,
          approvePath: `/api/restores/${ID}/approve`,
          confirmCommand: `npm run restore -- confirm ${ID} --token <token>`,
          confirmPath: `/api/restores/${ID}/confirm`,
          cancelCommand: `npm run restore -- cancel ${ID}`,
        },
      }),
    ]);
    expect(html).toContain('data-next-step="awaiting-approval"');
    expect(html).toContain('Overwrites database app: public.orders (1,200 rows).');
    expect(html).toContain(`npm run restore -- approve ${ID}`);
    expect(html).toContain(`POST /api/restores/${ID}/approve`);
    expect(html).toContain(`--token &lt;token&gt;`);
    expect(html).toContain('waiting for a person');
  });

  it('offers no approve or confirm step to a session without the restore scope', () => {
    const proposal = item({
      plan: 'Overwrites database app: public.orders (1,200 rows).',
      nextStep: {
        state: 'awaiting-approval',
        approveCommand: `npm run restore -- approve ${ID}`,
        approvePath: `/api/restores/${ID}/approve`,
        confirmCommand: `npm run restore -- confirm ${ID} --token <token>`,
        confirmPath: `/api/restores/${ID}/confirm`,
        cancelCommand: `npm run restore -- cancel ${ID}`,
      },
    });
    const html = render([proposal], false);
    expect(html).toContain('Overwrites database app: public.orders (1,200 rows).');
    expect(html).toContain('data-missing-scope="restore"');
    expect(html).not.toContain('/approve');
    expect(html).not.toContain('/confirm');
  });

  it('shows a running restore’s progress (bytes sent, rate, elapsed) and a queued one waiting for a worker', () => {
    const startedAt = new Date(NOW.getTime() - 90_000);
    const html = render([
      item({
        status: 'RUNNING',
        startedAt: startedAt.toISOString(),
        progressBytes: String(60 * 1024 * 1024),
        progressAt: new Date(startedAt.getTime() + 60_000).toISOString(),
      }),
      item({ id: 'ckrestore00000000000000002', status: 'QUEUED', confirmedBy: 'api:tok' }),
    ]);
    expect(html).toContain('data-progress');
    expect(html).toContain('60.0 MiB sent into the pod · 1.0 MiB/s · 1 min 30 s');
    expect(html).toContain('waiting for a worker');
  });

  it('shows a finished test-restore with its counts and bytes, and an error in words', () => {
    const html = render([
      item({
        kind: 'TEST',
        status: 'SUCCEEDED',
        requestedBy: 'schedule',
        durationMs: 42_000,
        countsSummary: '3 tables, 1,234 rows',
        bytesRestored: '1048576',
      }),
      item({
        id: 'other',
        kind: 'SCRATCH',
        status: 'FAILED',
        errorKind: 'ExecFailed',
        error: 'pg_restore exited with code 1',
      }),
    ]);
    expect(html).toContain('scheduled test-restore');
    expect(html).toContain('3 tables, 1,234 rows · 1.0 MiB restored');
    expect(html).toContain('42.0 s');
    expect(html).toContain('<strong>ExecFailed: </strong>pg_restore exited with code 1');
    expect(html).not.toContain('data-next-step');
  });

  it('says what no restores means', () => {
    expect(render([])).toContain('No restores yet. Scheduled test-restores are off');
  });
});
