import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/lib/shared/logger.ts';
import { isSecretKey, REDACTED, redactSecrets } from '../../../src/lib/shared/redact.ts';

const SECRET = 'Sup3r-s3cret!';

describe('redactSecrets', () => {
  it.each([
    ['postgresql://app:' + SECRET + '@db:5432/app', `postgresql://app:${REDACTED}@db:5432/app`],
    ['Authorization: Bearer abcdef123456', `Authorization: Bearer ${REDACTED}`],
    ['PGPASSWORD=' + SECRET + ' pg_dump', `PGPASSWORD=${REDACTED} pg_dump`],
    ['{"password": "' + SECRET + '"}', `{"password": "${REDACTED}"}`],
    ['mysqldump --password=' + SECRET, `mysqldump --password=${REDACTED}`],
    ['pg_dump: error: connection failed', 'pg_dump: error: connection failed'],
  ])('redacts %j', (input, expected) => {
    expect(redactSecrets(input)).toBe(expected);
  });

  it('replaces known secret values anywhere, longest first', () => {
    expect(redactSecrets(`FATAL: password authentication failed (${SECRET})`, [SECRET])).toBe(
      `FATAL: password authentication failed (${REDACTED})`,
    );
  });

  it('ignores known values too short to be secrets', () => {
    expect(redactSecrets('a b c', ['a'])).toBe('a b c');
  });

  it.each([
    ['POSTGRES_PASSWORD', true],
    ['apiKey', true],
    ['DATABASE_URL', true],
    ['BACKUP_ROOT', false],
    ['POSTGRES_USER', false],
  ])('isSecretKey(%s) = %s', (key, expected) => {
    expect(isSecretKey(key)).toBe(expected);
  });
});

describe('createLogger', () => {
  it('redacts secrets by key and inside message strings', () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _encoding, callback) {
        lines.push(String(chunk));
        callback();
      },
    });
    const logger = createLogger({ level: 'info', destination }).child({ module: 'test' });
    logger.info({ password: SECRET, env: { POSTGRES_PASSWORD: SECRET } }, 'connecting');
    logger.info(`connecting to postgresql://app:${SECRET}@db/app`);
    logger.error({ err: new Error(`auth failed for postgresql://app:${SECRET}@db`) }, 'failed');
    const output = lines.join('');
    expect(lines).toHaveLength(3);
    expect(output).not.toContain(SECRET);
    expect(output).toContain(REDACTED);
  });
});
