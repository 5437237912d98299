-- Table coverage (issue 16): the live table count read from the catalog just before the export, and the table count
-- of the dump found by the format check; a dump with fewer tables is flagged suspicious. Null: not counted.

-- AlterTable
ALTER TABLE "BackupRecord" ADD COLUMN "liveTableCount" INTEGER,
ADD COLUMN "dumpTableCount" INTEGER;
