/**
 * Counting the tables a dump holds, while the format check reads it anyway, to compare with the live table count
 * taken before the export (`dataExport.liveTables`). Each count matches what that live count counts. Pure.
 */

/**
 * Whether a line of `pg_restore --list` is the data of a table: `3381; 0 16980 TABLE DATA public items postgres`.
 * Table data, not table definitions: it is what brings a table's rows back (a dump made with `--schema-only` has
 * every definition and no row), and it exists for exactly the tables the live count counts (ordinary tables and
 * partitions; a partitioned parent holds no rows and has none). A data entry has no catalog id of its own (`0`),
 * which tells it apart from the definition of a table named like one in a schema named `DATA` (`215; 1259 16989
 * TABLE DATA public postgres`).
 */
export function isTableDataEntry(line: string): boolean {
  return /^\d+; 0 \d+ TABLE DATA /.test(line);
}

/** Enough of a line's start to recognise `CREATE TABLE ` and `DELIMITER ;;`. */
const HEAD_BYTES = 16;
const CREATE_TABLE = 'CREATE TABLE ';
const NEWLINE = 0x0a;

/**
 * Counts the `CREATE TABLE` statements of a mysqldump / mariadb-dump file fed to it in chunks, keeping only the
 * first bytes of the current line (data lines can be megabytes long). mysqldump starts each table's statement at the
 * beginning of a line, and escapes newlines inside values, so such a line is always a statement, except inside the
 * bodies of routines, triggers and events, which are written verbatim between `DELIMITER ;;` and `DELIMITER ;`
 * (a procedure may create a table): those blocks are skipped. Views are written as `CREATE VIEW` (in comments), not
 * counted, as the live count leaves them out.
 */
export class SqlTableCounter {
  private readonly head = Buffer.alloc(HEAD_BYTES);
  private headLength = 0;
  private inDelimiterBlock = false;
  private tables = 0;

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const newline = chunk.indexOf(NEWLINE, start);
      this.keepHead(chunk.subarray(start, newline === -1 ? chunk.length : newline));
      if (newline === -1) return;
      this.endLine();
      start = newline + 1;
    }
  }

  /** The count once the whole dump was fed (a last line without a newline included). */
  finish(): number {
    this.endLine();
    return this.tables;
  }

  private keepHead(part: Buffer): void {
    if (this.headLength >= HEAD_BYTES) return;
    this.headLength += part.copy(this.head, this.headLength, 0, HEAD_BYTES - this.headLength);
  }

  private endLine(): void {
    const head = this.head.toString('latin1', 0, this.headLength);
    this.headLength = 0;
    if (head.startsWith('DELIMITER ')) this.inDelimiterBlock = head.trim() !== 'DELIMITER ;';
    else if (!this.inDelimiterBlock && head.startsWith(CREATE_TABLE)) this.tables += 1;
  }
}

/** `1 table`, `6 tables`: for details and reasons. */
export function describeTables(count: number): string {
  return count === 1 ? '1 table' : `${count} tables`;
}
