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
  starting: boolean;
  /** What went wrong last, in words (null when all is well). */
  problem: string | null;
  startBackup(): Promise<void>;
}

/**
 * A deployment's history that stays current: "Back up now" POSTs to `/api/deployments/{id}/backups` (202 with the
 * RUNNING record, shown at once), and while a backup is RUNNING the page is fetched again from the same address every
 * POLL_INTERVAL_MS. When a running backup finishes, the server-rendered parts of the page (last success, stored
 * bytes) are refreshed too.
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
  const runningIds = useRef(new Set<string>());
  const endpoint = `/api/deployments/${encodeURIComponent(deploymentId)}/backups`;

  // A server refresh or another page of history brings new initial items.
  useEffect(() => setItems(initialItems), [initialItems]);

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
  }, [endpoint, pageSize, cursor, router]);

  const running = items.some((item) => item.status === 'RUNNING');
  useEffect(() => {
    for (const item of items) if (item.status === 'RUNNING') runningIds.current.add(item.id);
  }, [items]);
  useEffect(() => {
    if (!running || signedOut) return;
    const timer = setTimeout(() => void reload(), POLL_INTERVAL_MS);
    return () => clearTimeout(timer);
  }, [running, signedOut, polls, reload]);

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
      // The answer is the RUNNING record (or the backup already running); it is the newest, so it shows on the first page.
      const { backup } = (await response.json()) as { backup: BackupRecordJson };
      if (cursor) {
        router.push(`/deployments/${encodeURIComponent(deploymentId)}/backups`);
        return;
      }
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

  return { items, running, starting, problem, startBackup };
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
