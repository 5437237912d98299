export { type CheckBackupFormat, recordFormatCheck } from './record-format-check.ts';
export { checkUncheckedBackups } from './unchecked-backups.ts';
export { engineVersionFromHead } from './engine-version.ts';
export { type CoverageSettings, DEFAULT_COVERAGE_SETTINGS } from './table-coverage.ts';
