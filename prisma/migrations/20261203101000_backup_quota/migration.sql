-- Per-deployment cap on the size of one backup file (issue 14): a backup growing past it is aborted, FAILED
-- `QuotaExceeded`, and its partial file removed. Null: no cap.

-- AlterTable
ALTER TABLE "Deployment" ADD COLUMN "maxBackupBytes" BIGINT;
