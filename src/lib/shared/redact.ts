/**
 * Secret redaction for anything that leaves the process as text: log lines, BackupRecord errors and stderr tails,
 * alerts. Pure: `redactSecrets(text, knownSecrets)` replaces every known secret value and every secret-looking
 * pattern with `[REDACTED]`: connection-string passwords (also holding `/` or `@`), bearer tokens, `PGPASSWORD=…`,
 * `password: …`, `--password=…`, `--password value`, `-pVALUE`, and quoted values with spaces (`password="a b"`).
 * `redactFields` does the same to every string of a structured value (log fields), and hides secret keys' values.
 */
export const REDACTED = '[REDACTED]';

/** Keys whose values are secrets wherever they appear in structured log data or environment maps. */
export const SECRET_KEY_PATTERN =
  /pass(word|wd)?|secret|token|api[-_]?key|authorization|credential|private[-_]?key|database[-_]?url|webhook[-_]?url|connection[-_]?string/i;

/** Names of secret-holding keys and options in text: `PGPASSWORD`, `password`, `api_key`, `--password`, … */
const SECRET_NAME = String.raw`(?:[A-Z0-9_]*(?:PASS(?:WORD|WD)?|SECRET|TOKEN|API_?KEY)[A-Z0-9_]*|password|passwd|secret|token|api[-_]?key)`;

const SECRET_TEXT_PATTERNS: ReadonlyArray<[RegExp, string]> = [
  // scheme://user:password@host → scheme://user:[REDACTED]@host. The password runs to the last `@` of the URL, so
  // one holding `/` or `@` (badly escaped, as people write them) goes whole.
  [/([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s"']*:)([^\s"']+)(@[^@\s"']*)/gi, `$1${REDACTED}$3`],
  // Authorization: Bearer abc / Basic abc
  [/\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}/gi, `$1 ${REDACTED}`],
  // Quoted values, spaces and all: password="a b", PGPASSWORD='a b', --password "a b", "password": "a b"
  [
    new RegExp(String.raw`(${SECRET_NAME}["']?\s*[=:]\s*|--?${SECRET_NAME}\s+)"((?:[^"\\]|\\.)*)"`, 'gi'),
    `$1"${REDACTED}"`,
  ],
  [new RegExp(String.raw`(${SECRET_NAME}["']?\s*[=:]\s*|--?${SECRET_NAME}\s+)'([^']*)'`, 'gi'), `$1'${REDACTED}'`],
  // KEY=value and key: value pairs whose key names a secret (PGPASSWORD=…, password: …, --password=…)
  [new RegExp(String.raw`(${SECRET_NAME}["']?\s*[=:]\s*["']?)(?!\[REDACTED\])([^\s"',;&]+)`, 'gi'), `$1${REDACTED}`],
  // An option and its value as the next word: --password value, --api-key value
  [new RegExp(String.raw`(--${SECRET_NAME}\s+)(?!\[REDACTED\]|["'-])(\S+)`, 'gi'), `$1${REDACTED}`],
  // The MySQL clients' short form, glued to its value: -pVALUE
  [/((?:^|\s)-p)(?!\[REDACTED\])([^\s"']\S*)/g, `$1${REDACTED}`],
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

/** Deepest nesting {@link redactFields} walks; anything deeper is replaced (log fields are never that deep). */
const MAX_FIELD_DEPTH = 8;

/**
 * A copy of a structured value (log fields) with every string under a secret-looking key replaced, and every string
 * redacted with {@link redactSecrets}. Errors, dates and other class instances are left to their serializers.
 */
export function redactFields(value: unknown, knownSecrets: readonly string[] = [], depth = 0): unknown {
  if (typeof value === 'string') return redactSecrets(value, knownSecrets);
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_FIELD_DEPTH) return REDACTED;
  if (Array.isArray(value)) return value.map((item: unknown) => redactFields(item, knownSecrets, depth + 1));
  const prototype: unknown = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, field]) => [
      key,
      isSecretKey(key) && typeof field === 'string' ? REDACTED : redactFields(field, knownSecrets, depth + 1),
    ]),
  );
}
