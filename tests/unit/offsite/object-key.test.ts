import { describe, expect, it } from 'vitest';
import {
  buildObjectKey,
  deploymentListingPrefix,
  InvalidObjectKeyError,
  normaliseKeyPrefix,
  rootListingPrefix,
} from '../../../src/lib/offsite/object-key.ts';

const FILE = { workspaceId: 'clx0abc', deploymentName: 'db-main', fileName: '20261122T031500.123Z.sql.gz' };

describe('object keys', () => {
  it.each([
    ['', ''],
    ['/', ''],
    ['backups', 'backups'],
    ['/backups/', 'backups'],
    ['prod//eu-1/', 'prod/eu-1'],
    ['a.b_c-d/e', 'a.b_c-d/e'],
  ])('normalises the prefix %j to %j', (prefix, expected) => {
    expect(normaliseKeyPrefix(prefix)).toBe(expected);
  });

  it.each(['..', 'a/../b', './a', 'a/.', 'a b', 'a\\b', 'ä'])('refuses the prefix %j', (prefix) => {
    expect(() => normaliseKeyPrefix(prefix)).toThrowError(InvalidObjectKeyError);
  });

  it.each([
    ['', 'clx0abc/db-main/20261122T031500.123Z.sql.gz'],
    ['/ops/backups/', 'ops/backups/clx0abc/db-main/20261122T031500.123Z.sql.gz'],
  ])('builds {prefix}/{workspaceId}/{deploymentName}/{fileName} under %j', (prefix, key) => {
    expect(buildObjectKey(prefix, FILE)).toBe(key);
  });

  it.each([
    [{ ...FILE, workspaceId: '../x' }, 'workspaceId'],
    [{ ...FILE, workspaceId: '' }, 'workspaceId'],
    [{ ...FILE, deploymentName: 'db/main' }, 'deploymentName'],
    [{ ...FILE, deploymentName: '..' }, 'deploymentName'],
    [{ ...FILE, fileName: '..' }, 'fileName'],
    [{ ...FILE, fileName: 'a..b' }, 'fileName'],
    [{ ...FILE, fileName: '.hidden.partial' }, 'fileName'],
    [{ ...FILE, fileName: 'a/b' }, 'fileName'],
    [{ ...FILE, fileName: '' }, 'fileName'],
  ])('refuses a key part that could escape or be empty: %j', (file, field) => {
    expect(() => buildObjectKey('ops', file)).toThrowError(
      expect.objectContaining({ name: 'InvalidObjectKeyError', field }),
    );
  });

  it('lists under "{prefix}/", or the whole bucket for an empty prefix', () => {
    expect(rootListingPrefix('/ops/')).toBe('ops/');
    expect(rootListingPrefix('')).toBe('');
    expect(deploymentListingPrefix('/ops/', FILE)).toBe('ops/clx0abc/db-main/');
    expect(deploymentListingPrefix('', FILE)).toBe('clx0abc/db-main/');
    expect(() => deploymentListingPrefix('ops', { ...FILE, deploymentName: '..' })).toThrowError(InvalidObjectKeyError);
  });
});
