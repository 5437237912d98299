-- Durable jobs (issue 13): a confirmed live restore waits QUEUED for a worker; running backups and restores record
-- their progress; a running restore holds a lease that crash recovery reads; records name the job that ran them.

-- AlterEnum
ALTER TYPE "RestoreStatus" ADD VALUE 'QUEUED' BEFORE 'RUNNING';

-- AlterTable
ALTER TABLE "BackupRecord" ADD COLUMN     "jobId" TEXT,
ADD COLUMN     "progressAt" TIMESTAMP(3),
ADD COLUMN     "progressBytes" BIGINT;

-- AlterTable
ALTER TABLE "RestoreRecord" ADD COLUMN     "jobId" TEXT,
ADD COLUMN     "leaseExpiresAt" TIMESTAMP(3),
ADD COLUMN     "progressAt" TIMESTAMP(3),
ADD COLUMN     "progressBytes" BIGINT;

-- CreateIndex
CREATE INDEX "BackupRecord_jobId_idx" ON "BackupRecord"("jobId");

-- CreateIndex
CREATE INDEX "RestoreRecord_status_leaseExpiresAt_idx" ON "RestoreRecord"("status", "leaseExpiresAt");
