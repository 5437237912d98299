-- Access control for the dashboard and the API (issue 14): scoped, expiring API tokens; server-side sessions whose
-- cookie carries a random secret (stored hashed), never the API token; a workspace setting requiring that a live
-- restore is confirmed by another principal than its planner. Existing tokens keep every scope.

-- CreateEnum
CREATE TYPE "ApiScope" AS ENUM ('read', 'operate', 'restore');

-- AlterTable
ALTER TABLE "ApiToken" ADD COLUMN "expiresAt" TIMESTAMP(3),
ADD COLUMN "scopes" "ApiScope"[] DEFAULT ARRAY['read', 'operate', 'restore']::"ApiScope"[];

-- AlterTable
ALTER TABLE "Workspace" ADD COLUMN "restoreNeedsSecondPrincipal" BOOLEAN NOT NULL DEFAULT false;

-- AlterTable
ALTER TABLE "RestoreRecord" ADD COLUMN "approvedBy" TEXT;

-- CreateTable
CREATE TABLE "Session" (
    "id" TEXT NOT NULL,
    "secretHash" TEXT NOT NULL,
    "workspaceId" TEXT NOT NULL,
    "apiTokenId" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastSeenAt" TIMESTAMP(3) NOT NULL,
    "expiresAt" TIMESTAMP(3) NOT NULL,
    "revokedAt" TIMESTAMP(3),

    CONSTRAINT "Session_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "Session_secretHash_key" ON "Session"("secretHash");

-- CreateIndex
CREATE INDEX "Session_apiTokenId_idx" ON "Session"("apiTokenId");

-- CreateIndex
CREATE INDEX "Session_workspaceId_idx" ON "Session"("workspaceId");

-- AddForeignKey
ALTER TABLE "Session" ADD CONSTRAINT "Session_workspaceId_fkey" FOREIGN KEY ("workspaceId") REFERENCES "Workspace"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Session" ADD CONSTRAINT "Session_apiTokenId_fkey" FOREIGN KEY ("apiTokenId") REFERENCES "ApiToken"("id") ON DELETE CASCADE ON UPDATE CASCADE;
