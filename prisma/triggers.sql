-- Triggers of prisma/schema.prisma that Prisma's schema language cannot express. Each is also created by a migration;
-- `npm run db:check-drift` builds the schema's database from Prisma's SQL plus this file and compares triggers and
-- their functions with the migrations' database, so the two copies cannot differ unnoticed.

-- BackupSummary holds each deployment's totals over its backup records (successful backups, their bytes, the latest
-- failed attempt), so that a cycle, the overview and the metrics read one row per deployment instead of aggregating
-- every record each time. Every write to BackupRecord keeps it, whoever makes it (a backup, prune, recovery, reindex,
-- a person with psql). Decrements take the summary row's lock first; the latest failure is then recomputed by a
-- statement of its own, whose fresh snapshot sees every change committed before the lock was granted.
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
