/**
 * Secret redaction for anything that leaves the process as text: log lines, BackupRecord errors and stderr tails,
 * alerts. Pure: `redactSecrets(text, knownSecrets)` replaces every known secret value and every secret-looking
 * pattern (connection-string passwords, `password=…`, bearer tokens, `PGPASSWORD=…`) with `[REDACTED]`.
 */
export const REDACTED = '[REDACTED]';

/** Keys whose values are secrets wherever they appear in structured log data or environment maps. */
export const SECRET_KEY_PATTERN =
  /pass(word|wd)?|secret|token|api[-_]?key|authorization|credential|private[-_]?key|database[-_]?url|webhook[-_]?url|connection[-_]?string/i;

const SECRET_TEXT_PATTERNS: ReadonlyArray<[RegExp, string]> = [
  // scheme://user:password@host → scheme://user:[REDACTED]@host
  [/([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*:)([^@\s/]+)(@)/gi, `$1${REDACTED}$3`],
  // Authorization: Bearer abc / Basic abc
  [/\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}/gi, `$1 ${REDACTED}`],
  // KEY=value and key: value pairs whose key names a secret (PGPASSWORD=…, "password": "…", --password=…)
  [
    /((?:[A-Z0-9_]*(?:PASS(?:WORD|WD)?|SECRET|TOKEN|API_?KEY)[A-Z0-9_]*|password|passwd|secret|token|api[-_]?key)["']?\s*[=:]\s*["']?)([^\s"',;&]+)/gi,
    `$1${REDACTED}`,
  ],
];

/** Replaces known secret values and secret-looking patterns in `text`. Values shorter than 4 characters are ignored. */
export function redactSecrets(text: string, knownSecrets: Iterable<string> = []): string {
  let result = text;
  const values = [...knownSecrets].filter((value) => value.length >= 4).sort((a, b) => b.length - a.length);
  for (const value of values) result = result.split(value).join(REDACTED);
  for (const [pattern, replacement] of SECRET_TEXT_PATTERNS) result = result.replace(pattern, replacement);
  return result;
}

/** True when an environment or object key names a secret (e.g. `POSTGRES_PASSWORD`, `apiKey`). */
export function isSecretKey(key: string): boolean {
  return SECRET_KEY_PATTERN.test(key);
}
