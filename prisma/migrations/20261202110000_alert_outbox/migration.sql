-- Alerts that hold under concurrency and durable webhook deliveries (issue 13): at most one open alert per
-- deployment and kind, enforced by a partial unique index (also in prisma/partial-indexes.sql: Prisma cannot express
-- it), and an outbox of webhook deliveries written with the alerts they announce.

-- Two workers could open the same alert twice before this index existed. Of such duplicates the oldest open alert
-- stays open and takes the others' occurrences; the others are resolved as of when they were last seen.
WITH duplicates AS (
  SELECT id, keeper, occurrences, "lastSeenAt"
    FROM (SELECT id, occurrences, "lastSeenAt",
                 first_value(id) OVER (PARTITION BY "deploymentId", kind ORDER BY "createdAt", id) AS keeper
            FROM "Alert"
           WHERE "resolvedAt" IS NULL AND "deploymentId" IS NOT NULL) ranked
   WHERE id <> keeper
), merged AS (
  UPDATE "Alert" a
     SET occurrences = a.occurrences + d.occurrences, "lastSeenAt" = GREATEST(a."lastSeenAt", d."lastSeenAt")
    FROM (SELECT keeper, sum(occurrences)::int AS occurrences, max("lastSeenAt") AS "lastSeenAt"
            FROM duplicates GROUP BY keeper) d
   WHERE a.id = d.keeper
)
UPDATE "Alert" a SET "resolvedAt" = a."lastSeenAt" FROM duplicates d WHERE a.id = d.id;

-- CreateIndex (partial: see prisma/partial-indexes.sql)
CREATE UNIQUE INDEX "Alert_deploymentId_kind_open_key" ON "Alert"("deploymentId", "kind") WHERE "resolvedAt" IS NULL;

-- CreateEnum
CREATE TYPE "AlertDeliveryStatus" AS ENUM ('PENDING', 'DELIVERED', 'FAILED');

-- CreateTable
CREATE TABLE "AlertDelivery" (
    "id" TEXT NOT NULL,
    "alertId" TEXT NOT NULL,
    "payload" JSONB NOT NULL,
    "status" "AlertDeliveryStatus" NOT NULL DEFAULT 'PENDING',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "nextAttemptAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "deliveredAt" TIMESTAMP(3),
    "lastError" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "AlertDelivery_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "AlertDelivery_alertId_key" ON "AlertDelivery"("alertId");

-- CreateIndex
CREATE INDEX "AlertDelivery_status_nextAttemptAt_idx" ON "AlertDelivery"("status", "nextAttemptAt");

-- AddForeignKey
ALTER TABLE "AlertDelivery" ADD CONSTRAINT "AlertDelivery_alertId_fkey" FOREIGN KEY ("alertId") REFERENCES "Alert"("id") ON DELETE CASCADE ON UPDATE CASCADE;
