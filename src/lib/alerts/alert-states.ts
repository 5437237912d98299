import type { PrismaClient } from '../../generated/prisma/client.ts';
import { newRecordId } from '../shared/index.ts';
import { buildNotification } from './alert-notification.ts';
import type { AlertInput } from './alerts.ts';
import type { Notifier } from './notifier.ts';

/**
 * Alerts that follow a state rather than an event (a deployment is overdue, or blocked): each cycle says which should be
 * open and which resolved, for every deployment at once, and `applyAlertStates` makes it so in a constant number of
 * statements, however many deployments change (thousands become overdue together after an outage).
 */

/** The wanted state of one alert kind of one deployment. */
export type WantedAlertState =
  { open: true; alert: AlertInput & { deploymentName: string } } | { open: false; deploymentId: string; kind: string };

/** What `applyAlertStates` changed. */
export interface AlertStateChanges {
  opened: number;
  resolved: number;
}

interface OpenRow {
  id: string;
  workspaceId: string;
  deploymentId: string;
  backupRecordId: string | null;
  severity: string;
  kind: string;
  message: string;
  deliveryId: string | null;
  payload: unknown;
}

/**
 * Opens the wanted alerts that are not open and resolves the open ones that should not be: one statement reads which
 * of these kinds are open, one opens every new alert (insert-on-conflict-do-nothing against the unique index of open
 * alerts, so a worker racing this one cannot open a second copy) together with its webhook delivery when the notifier
 * delivers, and one resolves. A steady state costs the read alone. An alert already open is left as it is: a lasting
 * state is one alert, not an occurrence per cycle.
 */
export async function applyAlertStates(
  db: PrismaClient,
  notifier: Notifier | undefined,
  states: readonly WantedAlertState[],
  now: Date,
): Promise<AlertStateChanges> {
  const kinds = [...new Set(states.map((state) => (state.open ? state.alert.kind : state.kind)))];
  if (kinds.length === 0) return { opened: 0, resolved: 0 };
  const openNow = await db.alert.findMany({
    where: { resolvedAt: null, kind: { in: kinds } },
    select: { deploymentId: true, kind: true },
  });
  const isOpen = new Set(openNow.map((alert) => `${alert.deploymentId}:${alert.kind}`));
  const toOpen = new Map<string, OpenRow>();
  const toResolve = new Map<string, { deploymentId: string; kind: string }>();
  for (const state of states) {
    if (state.open) {
      const key = `${state.alert.deploymentId}:${state.alert.kind}`;
      if (isOpen.has(key) || toOpen.has(key)) continue;
      toOpen.set(key, openRow(state.alert, notifier?.delivers === true, now));
    } else {
      const key = `${state.deploymentId}:${state.kind}`;
      if (isOpen.has(key)) toResolve.set(key, { deploymentId: state.deploymentId, kind: state.kind });
    }
  }
  const opened = toOpen.size > 0 ? await openAlerts(db, [...toOpen.values()], now) : { opened: 0, deliveryIds: [] };
  if (opened.deliveryIds.length > 0) notifier?.queued(opened.deliveryIds);
  const resolved = toResolve.size > 0 ? await resolveAlertPairs(db, [...toResolve.values()], now) : 0;
  return { opened: opened.opened, resolved };
}

function openRow(alert: AlertInput & { deploymentName: string }, withDelivery: boolean, now: Date): OpenRow {
  const id = newRecordId();
  return {
    id,
    workspaceId: alert.workspaceId,
    deploymentId: alert.deploymentId,
    backupRecordId: alert.backupRecordId ?? null,
    severity: alert.severity,
    kind: alert.kind,
    message: alert.message,
    deliveryId: withDelivery ? newRecordId() : null,
    payload: withDelivery ? buildNotification(alert, id, now) : null,
  };
}

/** Opens the alerts of `rows` that are not open yet, with their deliveries, in one statement. */
async function openAlerts(
  db: PrismaClient,
  rows: OpenRow[],
  now: Date,
): Promise<{ opened: number; deliveryIds: string[] }> {
  const [result] = await db.$queryRaw<Array<{ opened: number; deliveryIds: string[] | null }>>`
    WITH wanted AS (
      SELECT * FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb)
        AS w(id text, "workspaceId" text, "deploymentId" text, "backupRecordId" text, severity text, kind text,
             message text, "deliveryId" text, payload jsonb)
    ), opened AS (
      INSERT INTO "Alert" (id, "workspaceId", "deploymentId", "backupRecordId", severity, kind, message, occurrences,
                           "createdAt", "lastSeenAt")
      SELECT id, "workspaceId", "deploymentId", "backupRecordId", severity::"AlertSeverity", kind, message, 1,
             ${now}::timestamp(3), ${now}::timestamp(3)
        FROM wanted
      ON CONFLICT ("deploymentId", kind) WHERE "resolvedAt" IS NULL DO NOTHING
      RETURNING id
    ), queued AS (
      INSERT INTO "AlertDelivery" (id, "alertId", payload, "nextAttemptAt", "createdAt")
      SELECT wanted."deliveryId", opened.id, wanted.payload, ${now}::timestamp(3), ${now}::timestamp(3)
        FROM opened JOIN wanted ON wanted.id = opened.id
       WHERE wanted."deliveryId" IS NOT NULL
      RETURNING id
    )
    SELECT (SELECT count(*) FROM opened)::int AS opened, (SELECT jsonb_agg(id) FROM queued) AS "deliveryIds"`;
  return { opened: result?.opened ?? 0, deliveryIds: result?.deliveryIds ?? [] };
}

/** Resolves the open alerts of these deployment and kind pairs in one statement. */
async function resolveAlertPairs(
  db: PrismaClient,
  pairs: Array<{ deploymentId: string; kind: string }>,
  now: Date,
): Promise<number> {
  return db.$executeRaw`
    UPDATE "Alert" a SET "resolvedAt" = ${now}::timestamp(3)
      FROM jsonb_to_recordset(${JSON.stringify(pairs)}::jsonb) AS r("deploymentId" text, kind text)
     WHERE a."resolvedAt" IS NULL AND a."deploymentId" = r."deploymentId" AND a.kind = r.kind`;
}
