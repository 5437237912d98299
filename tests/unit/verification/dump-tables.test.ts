import { describe, expect, it } from 'vitest';
import { isTableDataEntry, SqlTableCounter } from '../../../src/lib/verification/dump-tables.ts';

// Counting a dump's tables, as the format check does while it reads the file: the `TABLE DATA` entries of
// `pg_restore --list` and the `CREATE TABLE` statements of a mysqldump file. Real tool output (PostgreSQL 15,
// MariaDB 10.11), no files, no processes.

/** `pg_restore --list` of a database with a table named `public` in a schema named `DATA`, a partitioned table, a view. */
const PG_LIST = `;
; Archive created at 2026-12-03 13:26:32 UTC
;     dbname: covtest
;
; Selected TOC Entries:
;
6; 2615 16988 SCHEMA - DATA postgres
217; 1259 16989 TABLE DATA public postgres
215; 1259 16980 TABLE public a postgres
219; 1259 16995 TABLE public parent postgres
220; 1259 16998 TABLE public part1 postgres
222; 1259 17005 MATERIALIZED VIEW public mv postgres
221; 1259 17001 VIEW public v postgres
3234; 0 0 TABLE ATTACH public part1 postgres
3383; 0 16989 TABLE DATA DATA public postgres
3381; 0 16980 TABLE DATA public a postgres
3384; 0 16992 TABLE DATA public my table postgres
3385; 0 16998 TABLE DATA public part1 postgres
3396; 0 0 SEQUENCE SET public s postgres
3386; 0 17005 MATERIALIZED VIEW DATA public mv postgres
`;

/** mariadb-dump output, shortened: two tables (one named with a newline), a sequence, a view, a procedure that creates a table. */
const MYSQL_DUMP = `/*!40101 SET NAMES utf8mb4 */;
CREATE DATABASE /*!32312 IF NOT EXISTS*/ \`covtest\` /*!40100 DEFAULT CHARACTER SET utf8mb4 */;
USE \`covtest\`;
DROP SEQUENCE IF EXISTS \`s\`;
CREATE SEQUENCE \`s\` start with 1 minvalue 1 maxvalue 9223372036854775806 increment by 1 cache 1000 nocycle ENGINE=InnoDB;
DROP TABLE IF EXISTS \`a\`;
CREATE TABLE \`a\` (
  \`id\` int(11) NOT NULL,
  PRIMARY KEY (\`id\`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
LOCK TABLES \`a\` WRITE;
INSERT INTO \`a\` VALUES ${Array.from({ length: 2_000 }, (_, index) => `(${index},'CREATE TABLE \\nCREATE TABLE x')`).join(',')};
UNLOCK TABLES;
DROP TABLE IF EXISTS \`my
table\`;
CREATE TABLE \`my
table\` (
  \`id\` int(11) DEFAULT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
DROP TABLE IF EXISTS \`v\`;
/*!50001 DROP VIEW IF EXISTS \`v\`*/;
/*!50001 CREATE VIEW \`v\` AS SELECT
 NULL AS \`id\` */;
/*!50003 DROP PROCEDURE IF EXISTS \`p\` */;
DELIMITER ;;
CREATE DEFINER=\`root\`@\`localhost\` PROCEDURE \`p\`()
BEGIN
CREATE TABLE tmp (id int);
END
;;
DELIMITER ;
/*!50001 CREATE ALGORITHM=UNDEFINED */
/*!50001 VIEW \`v\` AS select \`a\`.\`id\` AS \`id\` from \`a\` */;
-- Dump completed on 2026-12-03 13:30:00`;

function countTables(text: string, chunkSize: number): number {
  const bytes = Buffer.from(text, 'utf8');
  const counter = new SqlTableCounter();
  for (let offset = 0; offset < bytes.length; offset += chunkSize)
    counter.push(bytes.subarray(offset, offset + chunkSize));
  return counter.finish();
}

describe('isTableDataEntry', () => {
  it('finds the data of every table, and nothing else, in a real table of contents', () => {
    const tables = PG_LIST.split('\n').filter(isTableDataEntry);
    expect(tables).toEqual([
      '3383; 0 16989 TABLE DATA DATA public postgres',
      '3381; 0 16980 TABLE DATA public a postgres',
      '3384; 0 16992 TABLE DATA public my table postgres',
      '3385; 0 16998 TABLE DATA public part1 postgres',
    ]);
  });

  it('does not take a table named like data in a schema named DATA for table data', () => {
    expect(isTableDataEntry('217; 1259 16989 TABLE DATA public postgres')).toBe(false);
    expect(isTableDataEntry('; 3381; 0 16980 TABLE DATA public a postgres')).toBe(false);
  });
});

describe('SqlTableCounter', () => {
  it.each([1, 5, 13, 64, 4096, 1 << 20])(
    'counts the CREATE TABLE statements of a real dump fed in chunks of %i bytes',
    (chunkSize) => {
      // `a` and `my\ntable`; not the sequence, the view, nor the table the procedure creates.
      expect(countTables(MYSQL_DUMP, chunkSize)).toBe(2);
    },
  );

  it('counts a statement on the last line, which has no newline', () => {
    expect(countTables('-- x\nCREATE TABLE `a` (id int);', 3)).toBe(1);
  });

  it('counts only at the start of a line, and again after a routine block has ended', () => {
    const text = [
      ' CREATE TABLE `indented` (id int);',
      'DELIMITER ;;',
      'CREATE TABLE `inside` (id int);',
      'DELIMITER ;',
      'CREATE TABLE `after` (id int);',
      'CREATE TABLES',
      '',
    ].join('\n');
    expect(countTables(text, 7)).toBe(1);
  });

  it('keeps only the start of each line, however long the lines are', () => {
    const counter = new SqlTableCounter();
    const long = Buffer.alloc(1 << 20, 'x');
    counter.push(Buffer.from('CREATE TABLE `a` ('));
    for (let index = 0; index < 8; index += 1) counter.push(long);
    counter.push(Buffer.from('\nCREATE TABLE `b` (id int);\n'));
    expect(counter.finish()).toBe(2);
    expect((counter as unknown as { head: Buffer }).head.length).toBeLessThanOrEqual(16);
  });
});
