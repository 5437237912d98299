import { describe, expect, it } from 'vitest';
import { recipeSchema } from '../../../src/lib/recipes/recipe.ts';
import { findRecipe, recipes } from '../../../src/lib/recipes/registry.ts';

describe('recipe registry', () => {
  it('has the engines the platform deploys, and a recipe without dataExport', () => {
    for (const slug of ['postgresql', 'mariadb', 'mysql', 'redis', 'mongodb']) {
      expect(findRecipe(slug)?.dataExport, slug).toBeDefined();
    }
    expect(findRecipe('nginx')).toBeDefined();
    expect(findRecipe('nginx')?.dataExport).toBeUndefined();
    expect(findRecipe('no-such-recipe')).toBeUndefined();
  });

  it('names formats by what they really are', () => {
    expect(findRecipe('postgresql')?.dataExport).toMatchObject({
      format: 'postgres-custom',
      extension: 'dump',
      compressed: true,
    });
    expect(findRecipe('mariadb')?.dataExport).toMatchObject({
      format: 'mysql-sql',
      extension: 'sql',
      compressed: false,
    });
    expect(findRecipe('redis')?.dataExport).toMatchObject({ format: 'redis-rdb', extension: 'rdb', compressed: false });
    expect(findRecipe('mongodb')?.dataExport).toMatchObject({ extension: 'archive.gz', compressed: true });
  });

  it('keeps credentials out of the command text: they are read from the container environment', () => {
    for (const recipe of recipes.values()) {
      const command = [...(recipe.dataExport?.command ?? []), ...(recipe.dataExport?.liveTables?.command ?? [])].join(
        ' ',
      );
      expect(command, recipe.slug).not.toMatch(/--password=(?!"\$)/);
      expect(command, recipe.slug).not.toMatch(/:\/\/[^@\s]*:[^@\s]*@/);
    }
  });

  it('dumps MySQL-family databases consistently and by name', () => {
    for (const slug of ['mariadb', 'mysql']) {
      const command = findRecipe(slug)?.dataExport?.command.join(' ') ?? '';
      expect(command).toContain('--single-transaction');
      expect(command).toContain('--databases');
      expect(command).not.toContain('--all-databases');
    }
  });

  it('counts the live tables of the engines whose dumps the format check counts tables in, and of no other', () => {
    for (const slug of ['postgresql', 'mariadb', 'mysql'])
      expect(findRecipe(slug)?.dataExport?.liveTables?.command[0], slug).toBe('sh');
    for (const slug of ['redis', 'mongodb']) expect(findRecipe(slug)?.dataExport?.liveTables, slug).toBeUndefined();
    // The same database as the export: the one its own environment names.
    expect(findRecipe('postgresql')?.dataExport?.liveTables?.command.join(' ')).toContain(
      '--dbname="${POSTGRES_DB:-$u}"',
    );
    expect(findRecipe('mariadb')?.dataExport?.liveTables?.command.join(' ')).toContain(
      '--database="${MARIADB_DATABASE:?',
    );
    expect(findRecipe('mysql')?.dataExport?.liveTables?.command.join(' ')).toMatch(
      /exec mysql .*--database="\$\{MYSQL_DATABASE:\?/,
    );
  });

  it('rejects malformed recipes', () => {
    const valid = findRecipe('postgresql');
    expect(recipeSchema.safeParse(valid).success).toBe(true);
    expect(recipeSchema.safeParse({ ...valid, dataExport: { ...valid?.dataExport, command: [] } }).success).toBe(false);
    expect(
      recipeSchema.safeParse({ ...valid, dataExport: { ...valid?.dataExport, container: 'Bad_Name' } }).success,
    ).toBe(false);
    expect(recipeSchema.safeParse({ ...valid, dataExport: { ...valid?.dataExport, extension: '.dump' } }).success).toBe(
      false,
    );
    expect(
      recipeSchema.safeParse({ ...valid, dataExport: { ...valid?.dataExport, liveTables: { command: [] } } }).success,
    ).toBe(false);
  });
});
