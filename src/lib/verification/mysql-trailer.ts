/**
 * The end of a MySQL/MariaDB dump. mysqldump and mariadb-dump write `-- Dump completed on <date>` as their very last
 * line, after everything else succeeded; a dump cut short (a killed process, a dropped connection that still exited
 * 0) lacks it. Pure: works on the tail bytes of the decompressed dump.
 */
export const DUMP_COMPLETED_MARKER = '-- Dump completed';

export type TrailerCheck = { ok: true; line: string } | { ok: false; problem: string };

/**
 * The last non-empty line of `tail`, or null when there is none. When `tail` is not the whole dump, its first line
 * may be cut, so it only counts when a newline precedes it.
 */
export function lastNonEmptyLine(tail: Buffer, wholeStream: boolean): string | null {
  const lines = tail.toString('latin1').split('\n');
  for (let index = lines.length - 1; index >= (wholeStream ? 0 : 1); index -= 1) {
    const line = (lines[index] as string).replace(/\r$/, '');
    if (line.trim() !== '') return line;
  }
  return null;
}

/** Whether the dump ends with the `-- Dump completed` line; the problem names what it ends with instead. */
export function checkDumpTrailer(tail: Buffer, wholeStream: boolean): TrailerCheck {
  if (wholeStream && tail.length === 0) return { ok: false, problem: 'the dump is empty' };
  const line = lastNonEmptyLine(tail, wholeStream);
  if (line !== null && line.startsWith(DUMP_COMPLETED_MARKER)) return { ok: true, line };
  const shown = line === null ? 'no complete line' : JSON.stringify(line.length > 80 ? `${line.slice(0, 80)}…` : line);
  return {
    ok: false,
    problem: `the dump does not end with "${DUMP_COMPLETED_MARKER}" (its last line is ${shown}): it was cut short`,
  };
}
