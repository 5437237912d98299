import { z } from 'zod';

/** A Kubernetes DNS label (RFC 1123): container names, deployment names, namespaces. */
export const dnsLabelSchema = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, {
    error: 'must be a DNS label: 1-63 lowercase letters, digits or "-", starting and ending with a letter or digit',
  });

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
  compressed: z.boolean().describe('True when the output is already compressed (then it is stored as is, not gzipped).'),
  environment: z
    .array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/))
    .describe('Environment variables of the container the command reads (credentials stay inside the pod).'),
});

export const recipeSchema = z.object({
  slug: z.string().regex(/^[a-z0-9-]+$/),
  name: z.string().min(1),
  /** Absent: the recipe has no data worth backing up (backups are skipped with a clear reason). */
  dataExport: dataExportSchema.optional(),
});

export type DataExport = z.infer<typeof dataExportSchema>;
export type Recipe = z.infer<typeof recipeSchema>;
