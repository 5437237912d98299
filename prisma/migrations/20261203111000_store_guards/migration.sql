-- Anomaly-aware success and dead-man pings (issue 16): a SUCCEEDED backup far smaller than the recent ones is flagged
-- suspicious (retention never counts it), and a deployment may name a dead-man URL pinged through an outbox.

-- AlterTable
ALTER TABLE "BackupRecord" ADD COLUMN "suspicious" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN "suspiciousReason" TEXT;

-- AlterTable
ALTER TABLE "Deployment" ADD COLUMN "deadManUrl" TEXT;

-- CreateTable
CREATE TABLE "DeadManPing" (
    "id" TEXT NOT NULL,
    "deploymentId" TEXT NOT NULL,
    "backupRecordId" TEXT,
    "event" TEXT NOT NULL,
    "status" "AlertDeliveryStatus" NOT NULL DEFAULT 'PENDING',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "nextAttemptAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "deliveredAt" TIMESTAMP(3),
    "lastError" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "DeadManPing_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "DeadManPing_status_nextAttemptAt_idx" ON "DeadManPing"("status", "nextAttemptAt");

-- CreateIndex
CREATE INDEX "DeadManPing_deploymentId_createdAt_idx" ON "DeadManPing"("deploymentId", "createdAt");

-- AddForeignKey
ALTER TABLE "DeadManPing" ADD CONSTRAINT "DeadManPing_deploymentId_fkey" FOREIGN KEY ("deploymentId") REFERENCES "Deployment"("id") ON DELETE CASCADE ON UPDATE CASCADE;
