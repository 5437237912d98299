import { z } from 'zod';
import { dnsLabelSchema } from '../shared/index.ts';

/**
 * How a recipe's data is exported: a command run inside one container of the deployment's pod, writing the whole
 * export to stdout. The argv is fixed text of the recipe; credentials are read *inside the container* from its own
 * environment (`$POSTGRES_PASSWORD`, …), so they never appear in the command we send, our logs or our records.
 */
export const dataExportSchema = z.object({
  container: dnsLabelSchema.describe('Name of the container in the pod that runs the export.'),
  command: z
    .array(z.string().min(1))
    .min(1)
    .describe('argv run in the container (no shell is added; a recipe that needs one says `sh -c`).'),
  format: z
    .string()
    .regex(/^[a-z0-9-]+$/)
    .describe('What the bytes are, e.g. `postgres-custom` (pg_restore), `mysql-sql`, `redis-rdb`, `mongo-archive`.'),
  extension: z
    .string()
    .regex(/^[a-z0-9]+(\.[a-z0-9]+)*$/)
    .describe('File extension of the raw output, without a dot: `dump`, `sql`, `rdb`, `archive.gz`.'),
  compressed: z
    .boolean()
    .describe('True when the output is already compressed (then it is stored as is, not gzipped).'),
  environment: z
    .array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/))
    .describe('Environment variables of the container the command reads (credentials stay inside the pod).'),
  liveTables: z
    .object({
      command: z
        .array(z.string().min(1))
        .min(1)
        .describe('argv run in the same container just before the export; prints one line: a whole number.'),
    })
    .optional()
    .describe(
      'Counts the tables of the database the export dumps, from the catalog only (no table is read), so that a ' +
        'dump holding fewer tables is flagged suspicious. Absent: the engine has no tables to count (Redis) or none ' +
        'is cheap to count; coverage is then not checked.',
    ),
});

/** An argv run in a container; a target name, when the step takes one, is appended as one more argument (`$1`). */
const importCommandSchema = z
  .array(z.string().min(1))
  .min(1)
  .describe(
    'argv run in the container; steps that take a target get it appended as the last argument (`sh -c SCRIPT sh TARGET`: `$1`).',
  );

/**
 * How a recipe's backups are restored: the counterpart of `dataExport`. The backup's raw bytes (as the export wrote
 * them, un-gzipped by the worker) arrive on the command's stdin. Scripts are fixed text; the only value they get
 * from us is a target database name, validated against `^[a-z_][a-z0-9_]{0,62}$` and passed as a separate argument,
 * never glued into the script. Credentials are read inside the container, as for the export.
 *
 * Counting prints machine-readable lines: `database<TAB>name`, then `table<TAB>name<TAB>rows` or
 * `keys<TAB>db0<TAB>keys` (see `parseCountLines`).
 */
export const dataImportSchema = z.object({
  container: dnsLabelSchema.describe('Name of the container in the pod that runs the import.'),
  format: z
    .string()
    .regex(/^[a-z0-9-]+$/)
    .describe('The backup format this imports; must equal the dataExport format.'),
  environment: z
    .array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/))
    .describe('Environment variables of the container the commands read (credentials stay inside the pod).'),
  counts: z
    .enum(['tables', 'keys'])
    .describe('What the count lines hold: rows per table, or keys per logical database.'),
  live: importCommandSchema.describe('Reads the backup on stdin and replaces the live data with it (destructive).'),
  count: importCommandSchema.describe('Counts a target ($1) or, without one, the live database; prints count lines.'),
  scratch: z
    .object({
      create: importCommandSchema
        .optional()
        .describe('Creates the empty scratch target $1 (absent: the import needs none).'),
      import: importCommandSchema.describe('Reads the backup on stdin into the scratch target $1.'),
      drop: importCommandSchema
        .optional()
        .describe('Removes the scratch target $1 (absent: nothing outlives the import).'),
      printsCounts: z
        .boolean()
        .describe('True when the import itself prints the count lines (its target does not outlive it).'),
    })
    .optional()
    .describe('Restores next to the live data, into another database name; absent: not supported for this engine.'),
});

export const recipeSchema = z
  .object({
    slug: z.string().regex(/^[a-z0-9-]+$/),
    name: z.string().min(1),
    /** Absent: the recipe has no data worth backing up (backups are skipped with a clear reason). */
    dataExport: dataExportSchema.optional(),
    /** Absent: backups of this recipe cannot be restored by the platform. */
    dataImport: dataImportSchema.optional(),
  })
  .refine((recipe) => !recipe.dataImport || recipe.dataImport.format === recipe.dataExport?.format, {
    error: 'dataImport.format must equal dataExport.format (an import reads what the export wrote)',
    path: ['dataImport', 'format'],
  });

export type DataExport = z.infer<typeof dataExportSchema>;
export type DataImport = z.infer<typeof dataImportSchema>;
export type Recipe = z.infer<typeof recipeSchema>;
