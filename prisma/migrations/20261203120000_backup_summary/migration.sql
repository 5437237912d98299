-- Per-deployment totals of backup records kept by triggers (issue 17): state gathering, the overview and the metrics
-- read one summary row per deployment instead of aggregating every record on each pass. The functions and triggers
-- are also in prisma/triggers.sql (Prisma's schema language cannot express them); `npm run db:check-drift` compares.

-- CreateTable
CREATE TABLE "BackupSummary" (
    "deploymentId" TEXT NOT NULL,
    "storedBackups" INTEGER NOT NULL DEFAULT 0,
    "storedBytes" BIGINT NOT NULL DEFAULT 0,
    "lastFailedAt" TIMESTAMP(3),

    CONSTRAINT "BackupSummary_pkey" PRIMARY KEY ("deploymentId")
);

-- AddForeignKey
ALTER TABLE "BackupSummary" ADD CONSTRAINT "BackupSummary_deploymentId_fkey" FOREIGN KEY ("deploymentId") REFERENCES "Deployment"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Writers wait until this migration commits (SHARE blocks inserts, updates and deletes, not reads), so no record is
-- counted twice or missed between the trigger and the backfill below.
LOCK TABLE "BackupRecord" IN SHARE MODE;

CREATE FUNCTION "backup_summary_on_record_change"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    UPDATE "BackupSummary"
       SET "storedBackups" = "storedBackups" - CASE WHEN OLD.status = 'SUCCEEDED' THEN 1 ELSE 0 END,
           "storedBytes" = "storedBytes" - CASE WHEN OLD.status = 'SUCCEEDED' THEN coalesce(OLD."sizeBytes", 0) ELSE 0 END
     WHERE "deploymentId" = OLD."deploymentId";
    IF OLD.status = 'FAILED' THEN
      UPDATE "BackupSummary"
         SET "lastFailedAt" = (SELECT max(r."startedAt") FROM "BackupRecord" r
                                WHERE r."deploymentId" = OLD."deploymentId" AND r.status = 'FAILED')
       WHERE "deploymentId" = OLD."deploymentId" AND "lastFailedAt" <= OLD."startedAt";
    END IF;
  END IF;
  IF TG_OP <> 'DELETE' THEN
    INSERT INTO "BackupSummary" AS s ("deploymentId", "storedBackups", "storedBytes", "lastFailedAt")
    VALUES (NEW."deploymentId",
            CASE WHEN NEW.status = 'SUCCEEDED' THEN 1 ELSE 0 END,
            CASE WHEN NEW.status = 'SUCCEEDED' THEN coalesce(NEW."sizeBytes", 0) ELSE 0 END,
            CASE WHEN NEW.status = 'FAILED' THEN NEW."startedAt" END)
    ON CONFLICT ("deploymentId") DO UPDATE
       SET "storedBackups" = s."storedBackups" + EXCLUDED."storedBackups",
           "storedBytes" = s."storedBytes" + EXCLUDED."storedBytes",
           "lastFailedAt" = greatest(s."lastFailedAt", EXCLUDED."lastFailedAt");
  END IF;
  RETURN NULL;
END
$$;

CREATE FUNCTION "backup_summary_on_record_truncate"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM "BackupSummary";
  RETURN NULL;
END
$$;

-- Progress updates (progressBytes, every few seconds) and verification do not fire it: only the columns it reads do.
CREATE TRIGGER "BackupRecord_summary"
  AFTER INSERT OR DELETE OR UPDATE OF status, "sizeBytes", "startedAt", "deploymentId" ON "BackupRecord"
  FOR EACH ROW EXECUTE FUNCTION "backup_summary_on_record_change"();

CREATE TRIGGER "BackupRecord_summary_truncate"
  AFTER TRUNCATE ON "BackupRecord"
  FOR EACH STATEMENT EXECUTE FUNCTION "backup_summary_on_record_truncate"();

-- The totals of the records that exist now.
INSERT INTO "BackupSummary" ("deploymentId", "storedBackups", "storedBytes", "lastFailedAt")
SELECT "deploymentId",
       count(*) FILTER (WHERE status = 'SUCCEEDED'),
       coalesce(sum("sizeBytes") FILTER (WHERE status = 'SUCCEEDED'), 0),
       max("startedAt") FILTER (WHERE status = 'FAILED')
  FROM "BackupRecord"
 GROUP BY "deploymentId";
