import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, describeConfig, loadConfig } from '../../../src/lib/runtime/config.ts';

const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const KEY_ID = 'AKIAIOSFODNN7EXAMPLE';
const folder = mkdtempSync(path.join(tmpdir(), 'offsite-config-'));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

function secretFile(name: string, content: string): string {
  const file = path.join(folder, name);
  writeFileSync(file, content);
  return file;
}

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return [...(error as ConfigError).problems];
  }
  throw new Error('expected a ConfigError');
}

describe('off-site configuration', () => {
  it('is off when S3_BUCKET is unset, with documented defaults', () => {
    const config = loadConfig({});
    expect(config.S3_BUCKET).toBeUndefined();
    expect(config).toMatchObject({ S3_PREFIX: '', S3_REGION: 'us-east-1', S3_FORCE_PATH_STYLE: false });
  });

  it('reads every variable and normalises the prefix', () => {
    const config = loadConfig({
      S3_BUCKET: 'ops-backups',
      S3_ENDPOINT: 'http://127.0.0.1:9000',
      S3_PREFIX: '/prod//eu-1/',
      S3_REGION: 'eu-central-1',
      S3_ACCESS_KEY_ID: KEY_ID,
      S3_SECRET_ACCESS_KEY: SECRET,
      S3_FORCE_PATH_STYLE: 'true',
    });
    expect(config).toMatchObject({
      S3_BUCKET: 'ops-backups',
      S3_ENDPOINT: 'http://127.0.0.1:9000',
      S3_PREFIX: 'prod/eu-1',
      S3_REGION: 'eu-central-1',
      S3_ACCESS_KEY_ID: KEY_ID,
      S3_SECRET_ACCESS_KEY: SECRET,
      S3_FORCE_PATH_STYLE: true,
    });
  });

  it.each([
    ['S3_PREFIX', 'backups/../other', 'S3_PREFIX must be segments'],
    ['S3_PREFIX', 'a/./b', 'S3_PREFIX must be segments'],
    ['S3_PREFIX', 'with space', 'S3_PREFIX must be segments'],
    ['S3_BUCKET', 'Upper_Case', 'S3_BUCKET must be a bucket name'],
    ['S3_ENDPOINT', 'ftp://minio:9000', 'S3_ENDPOINT must be an http:// or https:// URL'],
    ['S3_FORCE_PATH_STYLE', 'yes', 'S3_FORCE_PATH_STYLE must be true or false'],
  ])('rejects %s=%j naming the variable', (key, value, message) => {
    expect(problemsOf({ [key]: value }).join('\n')).toContain(message);
  });

  it('requires both credentials or neither', () => {
    expect(problemsOf({ S3_BUCKET: 'b-1', S3_ACCESS_KEY_ID: KEY_ID })).toEqual([
      'S3_SECRET_ACCESS_KEY must be set together with the other S3 credential (or neither, for the AWS default credential chain)',
    ]);
    expect(loadConfig({ S3_BUCKET: 'b-1' }).S3_SECRET_ACCESS_KEY).toBeUndefined();
  });

  it('reads credentials from *_FILE, trimmed', () => {
    const config = loadConfig({
      S3_BUCKET: 'b-1',
      S3_ACCESS_KEY_ID_FILE: secretFile('key-id', `${KEY_ID}\n`),
      S3_SECRET_ACCESS_KEY_FILE: secretFile('secret', `  ${SECRET}\r\n`),
    });
    expect(config.S3_ACCESS_KEY_ID).toBe(KEY_ID);
    expect(config.S3_SECRET_ACCESS_KEY).toBe(SECRET);
  });

  it('names the variable when its file is missing or empty, without showing a value', () => {
    const missing = path.join(folder, 'no-such-file');
    const problems = problemsOf({
      S3_BUCKET: 'b-1',
      S3_ACCESS_KEY_ID_FILE: missing,
      S3_SECRET_ACCESS_KEY_FILE: secretFile('empty', ' \n'),
    });
    expect(problems).toContain(`S3_ACCESS_KEY_ID_FILE names a file that cannot be read (got "${missing}": ENOENT)`);
    expect(problems).toContain(`S3_SECRET_ACCESS_KEY_FILE names an empty file (got "${path.join(folder, 'empty')}")`);
  });

  it('refuses a credential set both directly and as a file', () => {
    const problems = problemsOf({
      S3_BUCKET: 'b-1',
      S3_ACCESS_KEY_ID: KEY_ID,
      S3_SECRET_ACCESS_KEY: SECRET,
      S3_SECRET_ACCESS_KEY_FILE: secretFile('secret-2', SECRET),
    });
    expect(problems).toEqual(['S3_SECRET_ACCESS_KEY and S3_SECRET_ACCESS_KEY_FILE are both set; set only one of them']);
    expect(problems.join('\n')).not.toContain(SECRET);
  });

  it('never shows the credentials when describing itself', () => {
    const described = JSON.stringify(
      describeConfig(loadConfig({ S3_BUCKET: 'b-1', S3_ACCESS_KEY_ID: KEY_ID, S3_SECRET_ACCESS_KEY: SECRET })),
    );
    expect(described).not.toContain(SECRET);
    expect(described).not.toContain(KEY_ID);
    expect(described).toContain('"S3_SECRET_ACCESS_KEY":"(set)"');
    expect(described).toContain('"S3_BUCKET":"b-1"');
  });
});
