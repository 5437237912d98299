import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateIdentity } from '../../../src/lib/encryption/index.ts';
import { ConfigError, configSchema, describeConfig, loadConfig } from '../../../src/lib/runtime/config.ts';
import { FILE_READABLE_VARIABLES } from '../../../src/lib/runtime/config-files.ts';
import { isSecretKey } from '../../../src/lib/shared/redact.ts';

describe('loadConfig', () => {
  it('applies documented defaults to an empty environment', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      BACKUP_ROOT: '/backups',
      EMBEDDED_DATABASE_DIR: '.data/pglite',
      WORKER_INTERVAL_SECONDS: 60,
      BACKUP_CONCURRENCY: 2,
      LOG_LEVEL: 'info',
    });
    expect(config.DATABASE_URL).toBeUndefined();
  });

  it('treats empty strings as unset', () => {
    expect(loadConfig({ DATABASE_URL: '', BACKUP_CONCURRENCY: '  ' }).BACKUP_CONCURRENCY).toBe(2);
  });

  it('coerces numbers and keeps a valid connection string', () => {
    const config = loadConfig({ DATABASE_URL: 'postgresql://u:p@db:5432/app', BACKUP_CONCURRENCY: '4' });
    expect(config.BACKUP_CONCURRENCY).toBe(4);
    expect(config.DATABASE_URL).toBe('postgresql://u:p@db:5432/app');
  });

  it.each([
    ['BACKUP_CONCURRENCY', 'abc', 'BACKUP_CONCURRENCY must be a whole number from 1 to 32 (got "abc")'],
    ['BACKUP_CONCURRENCY', '0', 'BACKUP_CONCURRENCY must be a whole number from 1 to 32 (got "0")'],
    ['WORKER_INTERVAL_SECONDS', '2.5', 'WORKER_INTERVAL_SECONDS must be a whole number from 5 to 86400 (got "2.5")'],
    ['BACKUP_ROOT', 'backups', 'BACKUP_ROOT must be an absolute path (got "backups")'],
    ['LOG_LEVEL', 'loud', 'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent (got "loud")'],
  ])('rejects %s=%s naming the variable and what is allowed', (key, value, message) => {
    expect(() => loadConfig({ [key]: value })).toThrowError(message);
  });

  it('reports every bad variable at once', () => {
    const error = (() => {
      try {
        loadConfig({ BACKUP_CONCURRENCY: 'x', LOG_LEVEL: 'y' });
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toHaveLength(2);
  });

  it('never echoes a secret value in its error', () => {
    const secret = 'mysql://root:hunter2-secret@db/app';
    expect(() => loadConfig({ DATABASE_URL: secret })).toThrowError(/DATABASE_URL must be a postgres/);
    try {
      loadConfig({ DATABASE_URL: secret });
    } catch (error) {
      expect(String(error)).not.toContain('hunter2');
    }
  });

  it('describes itself without secrets', () => {
    const described = describeConfig(loadConfig({ DATABASE_URL: 'postgresql://u:hunter2@db/app' }));
    expect(JSON.stringify(described)).not.toContain('hunter2');
    expect(described.DATABASE_URL).toBe('(set)');
  });

  it('documents every variable', () => {
    for (const [key, schema] of Object.entries(configSchema.shape)) {
      expect(schema.description, key).toBeTruthy();
    }
  });
});

describe('secrets as mounted files and the worker health server', () => {
  it('reads DATABASE_URL and METRICS_TOKEN from *_FILE, as the Kubernetes manifests mount them', () => {
    const folder = mkdtempSync(path.join(os.tmpdir(), 'config-files-'));
    try {
      writeFileSync(path.join(folder, 'database-url'), 'postgresql://ops:hunter2@db:5432/ops\n');
      writeFileSync(path.join(folder, 'metrics-token'), 'a-metrics-token-of-32-characters');
      const config = loadConfig({
        DATABASE_URL_FILE: path.join(folder, 'database-url'),
        METRICS_TOKEN_FILE: path.join(folder, 'metrics-token'),
      });
      expect(config.DATABASE_URL).toBe('postgresql://ops:hunter2@db:5432/ops');
      expect(config.METRICS_TOKEN).toBe('a-metrics-token-of-32-characters');
      expect(JSON.stringify(describeConfig(config))).not.toContain('hunter2');
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it.each([
    ['DATABASE_URL', 'postgresql://ops:hunter2-file@db:5432/ops'],
    ['LLM_API_KEY', 'sk-hunter2-file-0123456789'],
    ['METRICS_TOKEN', 'hunter2-file-metrics-token-0123456789'],
    ['ALERT_WEBHOOK_URL', 'https://hooks.example/hunter2-file'],
  ] as const)('reads %s from %s_FILE (trimmed), never shows it, and refuses both at once', (name, value) => {
    const folder = mkdtempSync(path.join(os.tmpdir(), 'config-files-'));
    try {
      const file = path.join(folder, 'secret');
      writeFileSync(file, `  ${value}\n`);
      const config = loadConfig({ [`${name}_FILE`]: file });
      expect(config[name]).toBe(value);
      expect(JSON.stringify(describeConfig(config))).not.toContain('hunter2');
      expect(() => loadConfig({ [name]: value, [`${name}_FILE`]: file })).toThrowError(
        `${name} and ${name}_FILE are both set; set only one of them`,
      );
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it('reads several age identities from BACKUP_AGE_IDENTITY_FILE, never showing them, and names a bad line only', () => {
    const folder = mkdtempSync(path.join(os.tmpdir(), 'config-age-'));
    const first = generateIdentity();
    const second = generateIdentity();
    try {
      const file = path.join(folder, 'identity');
      writeFileSync(
        file,
        `# created: today\n# public key: ${first.identity.recipient.text}\n${first.text}\n\n${second.text}\n`,
      );
      const config = loadConfig({ BACKUP_AGE_IDENTITY_FILE: file });
      expect(config.BACKUP_AGE_IDENTITY?.map((identity) => identity.recipient.text)).toEqual([
        first.identity.recipient.text,
        second.identity.recipient.text,
      ]);
      expect(describeConfig(config).BACKUP_AGE_IDENTITY).toBe('(set)');
      expect(loadConfig({}).BACKUP_AGE_IDENTITY).toBeUndefined();

      const broken = `${first.text}\n${second.text.slice(0, -2)}QQ\n`;
      writeFileSync(file, broken);
      const error = (() => {
        try {
          loadConfig({ BACKUP_AGE_IDENTITY_FILE: file });
        } catch (caught) {
          return caught as Error;
        }
        throw new Error('expected a ConfigError');
      })();
      expect(error).toBeInstanceOf(ConfigError);
      expect(error.message).toContain('BACKUP_AGE_IDENTITY age: invalid identity on line 2');
      expect(error.message).not.toContain(second.text.slice(20, 40));
      expect(error.message).not.toContain(first.text.slice(20, 40));
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it('offers *_FILE for every variable that holds a secret', () => {
    const secretNames = Object.keys(configSchema.shape).filter(
      (name) => isSecretKey(name) || /_URL$|_KEY$|_KEY_ID$/.test(name),
    );
    const withoutFile = secretNames.filter(
      (name) =>
        !(FILE_READABLE_VARIABLES as readonly string[]).includes(name) &&
        !['LLM_BASE_URL', 'S3_ENDPOINT'].includes(name),
    );
    expect(withoutFile).toEqual([]);
  });

  it('serves health on 0.0.0.0:8080 unless told otherwise; port 0 picks a free one', () => {
    expect(loadConfig({})).toMatchObject({ HEALTH_PORT: 8080, HEALTH_HOST: '0.0.0.0' });
    expect(loadConfig({ HEALTH_PORT: '0' }).HEALTH_PORT).toBe(0);
    expect(() => loadConfig({ HEALTH_PORT: '70000' })).toThrowError(
      'HEALTH_PORT must be a whole number from 0 to 65535 (got "70000")',
    );
    expect(() => loadConfig({ KUBE_SERVICE_ACCOUNT_ROOT: 'relative' })).toThrowError(
      'KUBE_SERVICE_ACCOUNT_ROOT must be an absolute path (got "relative")',
    );
  });
});
