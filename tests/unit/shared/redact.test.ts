import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/lib/shared/logger.ts';
import { isSecretKey, REDACTED, redactFields, redactSecrets } from '../../../src/lib/shared/redact.ts';

const SECRET = 'Sup3r-s3cret!';

describe('redactSecrets', () => {
  it.each([
    ['postgresql://app:' + SECRET + '@db:5432/app', `postgresql://app:${REDACTED}@db:5432/app`],
    ['Authorization: Bearer abcdef123456', `Authorization: Bearer ${REDACTED}`],
    ['PGPASSWORD=' + SECRET + ' pg_dump', `PGPASSWORD=${REDACTED} pg_dump`],
    ['{"password": "' + SECRET + '"}', `{"password": "${REDACTED}"}`],
    ['mysqldump --password=' + SECRET, `mysqldump --password=${REDACTED}`],
    ['pg_dump: error: connection failed', 'pg_dump: error: connection failed'],
    // The forms issue 14 found unredacted:
    ['mongodump --password ' + SECRET + ' --archive', `mongodump --password ${REDACTED} --archive`],
    ['mysql -uroot -p' + SECRET + ' app', `mysql -uroot -p${REDACTED} app`],
    ['PGPASSWORD="two words ' + SECRET + '" psql', `PGPASSWORD="${REDACTED}" psql`],
    ["password='two words " + SECRET + "' next", `password='${REDACTED}' next`],
    ['--password "two words ' + SECRET + '"', `--password "${REDACTED}"`],
    ['{"api_key":"with space ' + SECRET + '"}', `{"api_key":"${REDACTED}"}`],
    ['postgresql://app:pa/ss@w' + SECRET + '@db:5432/app', `postgresql://app:${REDACTED}@db:5432/app`],
    ['redis://:a@b/c' + SECRET + '@cache:6379/0 failed', `redis://:${REDACTED}@cache:6379/0 failed`],
    // and what must stay as it is:
    ['mkdir -p /backups/ws', 'mkdir -p /backups/ws'],
    [
      'GET https://127.0.0.1:6443/api/v1/namespaces/apps/pods',
      'GET https://127.0.0.1:6443/api/v1/namespaces/apps/pods',
    ],
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

describe('redactFields', () => {
  it('hides secret keys’ strings at any depth and redacts every other string, leaving the rest alone', () => {
    const error = new Error('kept for the err serializer');
    expect(
      redactFields({
        module: 'x',
        count: 3,
        passed: 2,
        job: { data: { connection: `postgresql://u:${SECRET}@h/db`, apiKey: SECRET } },
        argv: ['mysql', `-p${SECRET}`],
        err: error,
      }),
    ).toEqual({
      module: 'x',
      count: 3,
      passed: 2,
      job: { data: { connection: `postgresql://u:${REDACTED}@h/db`, apiKey: REDACTED } },
      argv: ['mysql', `-p${REDACTED}`],
      err: error,
    });
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
    // Structured fields, nested, under keys pino's paths do not list, and in every secret form of the message.
    logger.warn(
      { request: { query: { command: ['sh', '-c', `mongodump --password ${SECRET}`] } }, webhookUrl: SECRET },
      `retrying with -p${SECRET} and password="a b ${SECRET}"`,
    );
    logger.info({ job: { webhookUrl: SECRET, url: `https://u:x/${SECRET}@host` } }, 'nested');
    const output = lines.join('');
    expect(lines).toHaveLength(5);
    expect(output).not.toContain(SECRET);
    expect(output).toContain(REDACTED);
  });
});
