'use client';

import { useRouter } from 'next/navigation.js';
import { useCallback, useEffect, useRef, useState } from 'react';
import type { BackupHistoryItem, BackupRecordJson } from '../../lib/web/index.ts';
import { readErrorMessage } from './read-error-message.ts';

/** While a backup is RUNNING the list is fetched again this often. */
const POLL_INTERVAL_MS = 1_500;

export interface BackupHistoryOptions {
  deploymentId: string;
  initialItems: BackupHistoryItem[];
  /** The page being shown (null: the newest). */
  cursor: string | null;
  pageSize: number;
}

export interface BackupHistory {
  items: BackupHistoryItem[];
  running: boolean;
  /** A backup asked for here that waits for a worker (no record yet). */
  queued: { jobId: string; since: string } | null;
  starting: boolean;
  /** What went wrong last, in words (null when all is well). */
  problem: string | null;
  startBackup(): Promise<void>;
}

/**
 * A deployment's history that stays current: "Back up now" POSTs to `/api/deployments/{id}/backups` (202 with the
 * queued job, shown at once as a QUEUED row, or with the backup already running), and while a backup is queued or
 * RUNNING the page is fetched again from the same address every POLL_INTERVAL_MS (a queued job that ended without a
 * record is read at /api/jobs/{id}). When a running backup finishes, the server-rendered parts of the page (last
 * success, stored bytes) are refreshed too.
 */
export function useBackupHistory({
  deploymentId,
  initialItems,
  cursor,
  pageSize,
}: BackupHistoryOptions): BackupHistory {
  const router = useRouter();
  const [items, setItems] = useState(initialItems);
  const [problem, setProblem] = useState<string | null>(null);
  const [starting, setStarting] = useState(false);
  const [polls, setPolls] = useState(0);
  const [signedOut, setSignedOut] = useState(false);
  const [queued, setQueued] = useState<{ jobId: string; since: string } | null>(null);
  const runningIds = useRef(new Set<string>());
  const endpoint = `/api/deployments/${encodeURIComponent(deploymentId)}/backups`;

  // A server refresh or another page of history brings new initial items.
  useEffect(() => setItems(initialItems), [initialItems]);

  /** A queued job that ended without making a record (refused by the worker, or another backup was the answer). */
  const followQueuedJob = useCallback(async (jobId: string) => {
    const response = await fetch(`/api/jobs/${encodeURIComponent(jobId)}`, { cache: 'no-store' });
    if (!response.ok) return;
    const { job } = (await response.json()) as { job: { state: string } };
    if (job.state === 'succeeded' || job.state === 'cancelled') setQueued(null);
    if (job.state === 'failed') {
      setQueued(null);
      setProblem('The queued backup could not run; see the worker’s log and the alerts.');
    }
  }, []);

  /** Fetches the shown page again; when a backup seen RUNNING has finished, the server-rendered summary too. */
  const reload = useCallback(async () => {
    try {
      const query = new URLSearchParams({ limit: String(pageSize), ...(cursor ? { cursor } : {}) });
      const response = await fetch(`${endpoint}?${query.toString()}`, { cache: 'no-store' });
      if (response.status === 401) {
        setProblem('Your session has ended: sign in again (reload the page) to keep following this backup.');
        setSignedOut(true);
        return;
      }
      if (!response.ok) {
        setProblem(`The history could not be refreshed (${await readErrorMessage(response)}); trying again.`);
        return;
      }
      const page = (await response.json()) as { items: BackupHistoryItem[] };
      if (queued) {
        if (page.items.some((item) => item.jobId === queued.jobId)) setQueued(null);
        else await followQueuedJob(queued.jobId);
      }
      const finished = page.items.some((item) => runningIds.current.has(item.id) && item.status !== 'RUNNING');
      runningIds.current = new Set(page.items.filter((item) => item.status === 'RUNNING').map((item) => item.id));
      setItems(page.items);
      setProblem(null);
      if (finished) router.refresh();
    } catch {
      setProblem('The dashboard cannot reach the server just now; trying again.');
    } finally {
      setPolls((count) => count + 1);
    }
  }, [endpoint, pageSize, cursor, router, queued, followQueuedJob]);

  const running = items.some((item) => item.status === 'RUNNING');
  useEffect(() => {
    for (const item of items) if (item.status === 'RUNNING') runningIds.current.add(item.id);
  }, [items]);
  useEffect(() => {
    if ((!running && !queued) || signedOut) return;
    const timer = setTimeout(() => void reload(), POLL_INTERVAL_MS);
    return () => clearTimeout(timer);
  }, [running, queued, signedOut, polls, reload]);

  const startBackup = useCallback(async () => {
    setStarting(true);
    setProblem(null);
    try {
      const response = await fetch(endpoint, { method: 'POST' });
      if (!response.ok) {
        setProblem(
          response.status === 409
            ? `${capitalize(await readErrorMessage(response))}.`
            : `The backup did not start: ${await readErrorMessage(response)}.`,
        );
        return;
      }
      // The answer is the queued job, or the backup already running; either is the newest, on the first page.
      const answer = (await response.json()) as { backup?: BackupRecordJson; job?: { id: string; createdAt: string } };
      if (cursor) {
        router.push(`/deployments/${encodeURIComponent(deploymentId)}/backups`);
        return;
      }
      if (answer.job) {
        setQueued({ jobId: answer.job.id, since: answer.job.createdAt });
        return;
      }
      const backup = answer.backup;
      if (!backup) return;
      // Polling follows it from here, and refreshes the summary once it has finished. A running backup has no
      // off-site copies yet.
      runningIds.current.add(backup.id);
      setItems((current) =>
        [{ ...backup, uploads: [] }, ...current.filter((item) => item.id !== backup.id)].slice(0, pageSize),
      );
    } catch {
      setProblem(
        'The backup did not start: the dashboard cannot reach the server. Check your connection and try again.',
      );
    } finally {
      setStarting(false);
    }
  }, [endpoint, cursor, deploymentId, pageSize, router]);

  return { items, running, queued, starting, problem, startBackup };
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
