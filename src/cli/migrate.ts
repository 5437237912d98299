import { openRuntime, readEnvironment, runMain } from '../lib/runtime/index.ts';

/** `npm run db:migrate`: applies pending migrations to DATABASE_URL (or the embedded database) and reports them. */
runMain(async () => {
  const { database } = await openRuntime(readEnvironment(), 'migrate');
  const { applied, alreadyApplied } = database.migrations;
  process.stdout.write(
    `${database.kind} database at ${database.location}: ${applied.length} migration(s) applied` +
      `${applied.length ? ` (${applied.join(', ')})` : ''}, ${alreadyApplied.length} already applied\n`,
  );
  await database.close();
});
