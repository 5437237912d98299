-- Indexes of prisma/schema.prisma that Prisma's schema language cannot express (partial indexes). Each is also
-- created by a migration; `npm run db:check-drift` builds the schema's database from Prisma's SQL plus this file and
-- compares it with the migrations' database, so the two copies cannot differ unnoticed.

-- At most one open alert per deployment and kind: raising an alert is an insert-on-conflict against this index.
CREATE UNIQUE INDEX "Alert_deploymentId_kind_open_key" ON "Alert"("deploymentId", "kind") WHERE "resolvedAt" IS NULL;
