import type { PrismaClient } from '../../src/generated/prisma/client.ts';

/** What the database says to every Alert insert while {@link withAlertInsertsRefused} runs. */
export const ALERTS_REFUSED = 'alerts refused by the test';

/**
 * Runs `run` while the database refuses every Alert insert (a trigger raising {@link ALERTS_REFUSED}, as a full or
 * broken table would), then removes the trigger whatever happened. For the stories in which a change must not be
 * written without its alert.
 */
export async function withAlertInsertsRefused<T>(db: PrismaClient, run: () => Promise<T>): Promise<T> {
  await db.$executeRawUnsafe(`
    CREATE FUNCTION refuse_alerts() RETURNS trigger LANGUAGE plpgsql AS
      $$ BEGIN RAISE EXCEPTION '${ALERTS_REFUSED}'; END $$`);
  await db.$executeRawUnsafe(
    'CREATE TRIGGER refuse_alerts BEFORE INSERT ON "Alert" FOR EACH ROW EXECUTE FUNCTION refuse_alerts()',
  );
  try {
    return await run();
  } finally {
    await db.$executeRawUnsafe('DROP TRIGGER refuse_alerts ON "Alert"');
    await db.$executeRawUnsafe('DROP FUNCTION refuse_alerts()');
  }
}
