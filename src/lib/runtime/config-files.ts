import { readFileSync } from 'node:fs';

/**
 * Variables that may also be given as `<NAME>_FILE`: the path of a file holding the value, the way Docker and
 * Kubernetes secrets are mounted. The file's content is trimmed; exactly one of `NAME` and `NAME_FILE` may be set.
 */
export const FILE_READABLE_VARIABLES = [
  'DATABASE_URL',
  'ALERT_WEBHOOK_URL',
  'LLM_API_KEY',
  'METRICS_TOKEN',
  'S3_ACCESS_KEY_ID',
  'S3_SECRET_ACCESS_KEY',
  'BACKUP_AGE_IDENTITY',
] as const;

/** What `readVariableFiles` found: values to use in place of the variables, and problems naming the variable. */
export interface VariableFiles {
  values: Record<string, string>;
  problems: string[];
}

/**
 * Reads the `<NAME>_FILE` variables of `names`. A file that is missing, unreadable or empty, or a variable set both
 * directly and as a file, is a problem naming the variable and the path (never the content).
 */
export function readVariableFiles(
  env: Record<string, string | undefined>,
  names: readonly string[] = FILE_READABLE_VARIABLES,
  readFile: (path: string) => string = (path) => readFileSync(path, 'utf8'),
): VariableFiles {
  const found: VariableFiles = { values: {}, problems: [] };
  for (const name of names) {
    const fileVariable = `${name}_FILE`;
    const filePath = env[fileVariable]?.trim();
    if (!filePath) continue;
    if (env[name]?.trim()) {
      found.problems.push(`${name} and ${fileVariable} are both set; set only one of them`);
      continue;
    }
    let content: string;
    try {
      content = readFile(filePath).trim();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      found.problems.push(`${fileVariable} names a file that cannot be read (got "${filePath}": ${code})`);
      continue;
    }
    if (!content) {
      found.problems.push(`${fileVariable} names an empty file (got "${filePath}")`);
      continue;
    }
    found.values[name] = content;
  }
  return found;
}
