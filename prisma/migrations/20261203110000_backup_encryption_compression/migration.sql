-- Encryption at rest (age recipients per workspace or deployment) and the compression choice per deployment (issue 16).

-- CreateEnum
CREATE TYPE "BackupCompression" AS ENUM ('gzip', 'zstd', 'none');

-- AlterTable
ALTER TABLE "Workspace" ADD COLUMN "backupAgeRecipients" TEXT;

-- AlterTable: deployments that exist keep gzip (their backups keep their names); new ones get zstd.
ALTER TABLE "Deployment" ADD COLUMN "backupAgeRecipients" TEXT,
ADD COLUMN "backupCompression" "BackupCompression" NOT NULL DEFAULT 'gzip';
ALTER TABLE "Deployment" ALTER COLUMN "backupCompression" SET DEFAULT 'zstd';

-- AlterTable
ALTER TABLE "BackupRecord" ADD COLUMN "encryptedTo" TEXT;
