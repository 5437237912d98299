export type { DataExport, DataImport, Recipe } from './recipe.ts';
export { findRecipe } from './registry.ts';
