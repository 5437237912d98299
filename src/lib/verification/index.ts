export { type CheckBackupFormat, recordFormatCheck } from './record-format-check.ts';
export { checkUncheckedBackups } from './unchecked-backups.ts';
export { engineVersionFromHead } from './engine-version.ts';
