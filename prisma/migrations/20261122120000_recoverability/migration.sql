-- Recoverability (issue 7): format checks and pins on backups, off-site uploads per destination, restore records,
-- GFS / max-age retention and scheduled test-restores per deployment.

-- CreateEnum
CREATE TYPE "UploadStatus" AS ENUM ('PENDING', 'UPLOADED', 'FAILED');

-- CreateEnum
CREATE TYPE "RestoreKind" AS ENUM ('DESTRUCTIVE', 'SCRATCH', 'TEST');

-- CreateEnum
CREATE TYPE "RestoreStatus" AS ENUM ('PROPOSED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED');

-- AlterTable
ALTER TABLE "Deployment" ADD COLUMN     "lastTestRestoreAt" TIMESTAMP(3),
ADD COLUMN     "retentionDaily" INTEGER,
ADD COLUMN     "retentionMaxAgeDays" INTEGER,
ADD COLUMN     "retentionMonthly" INTEGER,
ADD COLUMN     "retentionWeekly" INTEGER,
ADD COLUMN     "testRestoreSchedule" TEXT;

-- AlterTable
ALTER TABLE "BackupRecord" ADD COLUMN     "pinned" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "verifiedAt" TIMESTAMP(3),
ADD COLUMN     "verifyError" TEXT,
ADD COLUMN     "verifyMethod" TEXT;

-- CreateTable
CREATE TABLE "BackupUpload" (
    "id" TEXT NOT NULL,
    "backupRecordId" TEXT NOT NULL,
    "destination" TEXT NOT NULL,
    "objectKey" TEXT NOT NULL,
    "status" "UploadStatus" NOT NULL DEFAULT 'PENDING',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "nextAttemptAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastError" TEXT,
    "uploadedAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "BackupUpload_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "RestoreRecord" (
    "id" TEXT NOT NULL,
    "workspaceId" TEXT NOT NULL,
    "deploymentId" TEXT NOT NULL,
    "backupRecordId" TEXT,
    "backupSha256" TEXT NOT NULL,
    "backupStartedAt" TIMESTAMP(3) NOT NULL,
    "kind" "RestoreKind" NOT NULL,
    "status" "RestoreStatus" NOT NULL,
    "trigger" "BackupTrigger" NOT NULL,
    "target" TEXT NOT NULL,
    "requestedBy" TEXT NOT NULL,
    "confirmedBy" TEXT,
    "plan" TEXT,
    "confirmTokenHash" TEXT,
    "confirmExpiresAt" TIMESTAMP(3),
    "startedAt" TIMESTAMP(3),
    "finishedAt" TIMESTAMP(3),
    "durationMs" INTEGER,
    "bytesRestored" BIGINT,
    "counts" JSONB,
    "errorKind" TEXT,
    "error" TEXT,
    "stderrTail" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "RestoreRecord_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "BackupUpload_status_nextAttemptAt_idx" ON "BackupUpload"("status", "nextAttemptAt");

-- CreateIndex
CREATE UNIQUE INDEX "BackupUpload_backupRecordId_destination_key" ON "BackupUpload"("backupRecordId", "destination");

-- CreateIndex
CREATE UNIQUE INDEX "RestoreRecord_confirmTokenHash_key" ON "RestoreRecord"("confirmTokenHash");

-- CreateIndex
CREATE INDEX "RestoreRecord_deploymentId_createdAt_idx" ON "RestoreRecord"("deploymentId", "createdAt" DESC);

-- CreateIndex
CREATE INDEX "RestoreRecord_deploymentId_kind_status_finishedAt_idx" ON "RestoreRecord"("deploymentId", "kind", "status", "finishedAt" DESC);

-- AddForeignKey
ALTER TABLE "BackupUpload" ADD CONSTRAINT "BackupUpload_backupRecordId_fkey" FOREIGN KEY ("backupRecordId") REFERENCES "BackupRecord"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "RestoreRecord" ADD CONSTRAINT "RestoreRecord_workspaceId_fkey" FOREIGN KEY ("workspaceId") REFERENCES "Workspace"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "RestoreRecord" ADD CONSTRAINT "RestoreRecord_deploymentId_fkey" FOREIGN KEY ("deploymentId") REFERENCES "Deployment"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "RestoreRecord" ADD CONSTRAINT "RestoreRecord_backupRecordId_fkey" FOREIGN KEY ("backupRecordId") REFERENCES "BackupRecord"("id") ON DELETE SET NULL ON UPDATE CASCADE;

