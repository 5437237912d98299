import { describe, expect, it } from 'vitest';
import { BadCountOutputError } from '../../../src/lib/restore/import-errors.ts';
import { findRecipe, recipes } from '../../../src/lib/recipes/registry.ts';
import { recipeSchema } from '../../../src/lib/recipes/recipe.ts';
import { parseCountLines } from '../../../src/lib/restore/count-lines.ts';
import { describeLivePlan } from '../../../src/lib/restore/restore-plan.ts';
import {
  buildStepCommand,
  InvalidTargetNameError,
  isScratchTargetName,
  newScratchTargetName,
} from '../../../src/lib/restore/restore-target.ts';

// The pure core of restores: count lines, target names in argv, the plan text, and the recipes' dataImport.

const T0 = new Date('2026-11-22T10:00:00Z');

describe('parseCountLines', () => {
  it('reads tables with tabs and dots in names, and keys per database', () => {
    expect(parseCountLines('database\tshop\ntable\tpublic.orders\t12\ntable\tpublic.we\tird\t0\n\n', 'tables')).toEqual(
      {
        database: 'shop',
        counts: { tables: { 'public.orders': 12, 'public.we\tird': 0 } },
      },
    );
    expect(parseCountLines('database\tredis\r\nkeys\tdb0\t205\r\nkeys\tdb3\t1\r\n', 'keys')).toEqual({
      database: 'redis',
      counts: { keys: { db0: 205, db3: 1 } },
    });
    expect(parseCountLines('database\tempty\n', 'tables')).toEqual({ database: 'empty', counts: { tables: {} } });
  });

  it.each([
    ['a line of another kind', 'keys\tdb0\t1', 'tables'],
    ['a negative count', 'table\tt\t-1', 'tables'],
    ['a missing count', 'table\tt', 'tables'],
    ['noise', 'NOTICE: something', 'tables'],
    ['a fraction', 'keys\tdb0\t1.5', 'keys'],
  ] as const)('refuses %s', (_case, text, kind) => {
    expect(() => parseCountLines(text, kind)).toThrow(BadCountOutputError);
  });
});

describe('buildStepCommand', () => {
  const script = ['sh', '-c', 'echo "$1"', 'sh'];

  it('appends a valid target as its own argument and leaves the script untouched', () => {
    expect(buildStepCommand(script, 'ops_scratch_0123456789ab')).toEqual([...script, 'ops_scratch_0123456789ab']);
    expect(buildStepCommand(script)).toEqual(script);
  });

  it.each(['', 'Shop', '1db', 'a-b', 'x; drop database y', '$(id)', 'a'.repeat(64), 'ä'])('refuses %j', (name) => {
    expect(() => buildStepCommand(script, name)).toThrow(InvalidTargetNameError);
  });

  it('makes scratch names it recognises', () => {
    const name = newScratchTargetName();
    expect(isScratchTargetName(name)).toBe(true);
    expect(buildStepCommand(script, name).at(-1)).toBe(name);
    expect(isScratchTargetName('shop')).toBe(false);
  });
});

describe('describeLivePlan', () => {
  const input = {
    workspaceSlug: 'acme',
    deploymentName: 'shop-db',
    namespace: 'apps',
    recipeName: 'PostgreSQL',
    live: { database: 'shop', counts: { tables: { 'public.orders': 1200, 'public.users': 30 } } },
    backup: { id: 'b1', startedAt: T0, sizeBytes: 4096n, sha256: 'a'.repeat(64), format: 'postgres-custom' },
    expiresAt: new Date(T0.getTime() + 15 * 60_000),
  };

  it('names what is overwritten, with what, how, and until when the token works', () => {
    const plan = describeLivePlan(input);
    expect(plan).toContain('DESTRUCTIVE restore of acme/shop-db (PostgreSQL, namespace apps).');
    expect(plan).toContain('Will overwrite: live database "shop", which holds now 2 tables with 1230 rows:');
    expect(plan).toContain('  public.orders: 1200 rows');
    expect(plan).toContain(
      `With backup b1, taken 2026-11-22T10:00:00.000Z, 4096 bytes, sha256 ${'a'.repeat(64)}, format postgres-custom.`,
    );
    expect(plan).toContain('in one transaction');
    expect(plan).toContain('Confirm before 2026-11-22T10:15:00.000Z');
  });

  it('says an agent proposal needs a person, and summarises long table lists', () => {
    const tables = Object.fromEntries(
      Array.from({ length: 45 }, (_, i) => [`public.t${String(i).padStart(2, '0')}`, i]),
    );
    const plan = describeLivePlan({ ...input, live: { database: 'shop', counts: { tables } }, expiresAt: null });
    expect(plan).toContain('a person must approve it');
    expect(plan).toContain('… and 5 more');
    expect(plan).not.toContain('public.t44');
  });
});

describe('recipes: dataImport', () => {
  it('every engine with an export has a matching import; scratch where the engine allows it', () => {
    for (const slug of ['postgresql', 'mariadb', 'mysql', 'redis', 'mongodb']) {
      const recipe = findRecipe(slug);
      expect(recipe?.dataImport?.format, slug).toBe(recipe?.dataExport?.format);
    }
    expect(findRecipe('mongodb')?.dataImport?.scratch).toBeUndefined();
    expect(findRecipe('redis')?.dataImport?.scratch?.printsCounts).toBe(true);
  });

  it('uses the required restore flags', () => {
    const pgLive = findRecipe('postgresql')!.dataImport!.live.join(' ');
    for (const flag of ['--single-transaction', '--exit-on-error', '--no-owner', '--no-acl', '--clean', '--if-exists'])
      expect(pgLive).toContain(flag);
    expect(findRecipe('mariadb')!.dataImport!.live.join(' ')).toMatch(
      /\/\^CREATE DATABASE \/d.*\/\^USE \/d.*--database="\$live"/,
    );
    expect(findRecipe('mongodb')!.dataImport!.live.join(' ')).toContain('mongorestore --archive --gzip --drop');
  });

  it('scripts are sh -c with $0 set, so the target can follow as $1; no secrets in the text', () => {
    for (const recipe of recipes.values()) {
      const steps = recipe.dataImport
        ? [
            recipe.dataImport.live,
            recipe.dataImport.count,
            ...Object.values(recipe.dataImport.scratch ?? {}).filter(Array.isArray),
          ]
        : [];
      for (const step of steps as string[][]) {
        expect(step.slice(0, 2), recipe.slug).toEqual(['sh', '-c']);
        expect(step[3], recipe.slug).toBe('sh');
        expect(step.join(' '), recipe.slug).not.toMatch(/--password=(?!"\$)/);
      }
    }
  });

  it('refuses an import whose format differs from the export', () => {
    const recipe = findRecipe('postgresql')!;
    expect(recipeSchema.safeParse(recipe).success).toBe(true);
    const result = recipeSchema.safeParse({ ...recipe, dataImport: { ...recipe.dataImport, format: 'mysql-sql' } });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(['dataImport', 'format']);
  });
});
