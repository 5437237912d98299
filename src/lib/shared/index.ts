export { type BackupFailureKind, isBackupFailureKind, TypedFailure } from './failures.ts';
export { formatBytes, formatLateness, formatProgress } from './format.ts';
export { DNS_LABEL_PATTERN, dnsLabelSchema, isRecordId, newRecordId, recordIdSchema } from './identifiers.ts';
export { createLogger, type Logger } from './logger.ts';
export { isSecretKey, redactSecrets } from './redact.ts';
export { runWithConcurrency } from './run-with-concurrency.ts';
export { createStderrTail, type StderrTail } from './stderr-tail.ts';
export { keepEnd, keepStart } from './text.ts';
export { generateApiToken, hashToken, looksLikeApiToken, secretsEqual } from './tokens.ts';
