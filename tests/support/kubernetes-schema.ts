import * as clientNode from '@kubernetes/client-node';
import type { KubeObject } from './kubernetes-manifests.ts';

/**
 * Offline validation of rendered Kubernetes objects against the API's schemas, in two passes:
 * - `kubernetes-models` (the OpenAPI schemas of the Kubernetes API compiled to validators): types, required fields,
 *   formats and enums;
 * - the model type maps of `@kubernetes/client-node` (generated from the same OpenAPI document): every field name
 *   must be one the API knows, as `kubectl apply` with its default strict field validation demands. The first pass
 *   alone lets unknown fields (a misspelt `securityContex`) through.
 * Returns one line per problem, naming the object and the path; empty when the object is valid.
 */
export async function validateAgainstSchemas(object: KubeObject): Promise<string[]> {
  const where = `${object.kind}/${object.metadata?.name ?? '?'}`;
  const [group, version] = object.apiVersion.includes('/') ? object.apiVersion.split('/') : ['', object.apiVersion];
  const problems: string[] = [];

  const modelPath = `kubernetes-models/${group ? `${group}/` : ''}${version}/${object.kind}`;
  const module = (await import(modelPath).catch(() => null)) as Record<string, ModelClass> | null;
  const Model = module?.[object.kind];
  if (!Model) return [`${where}: no schema for ${object.apiVersion} ${object.kind}`];
  try {
    new Model(object).validate();
  } catch (error) {
    problems.push(`${where}: ${(error as Error).message}`);
  }

  const typeName = `${version!.charAt(0).toUpperCase()}${version!.slice(1)}${object.kind}`;
  problems.push(...findUnknownFields(object, typeName, where));
  return problems;
}

interface ModelClass {
  new (data: unknown): { validate(): void };
}

interface AttributeType {
  baseName: string;
  type: string;
}

type TypeMapClass = { getAttributeTypeMap(): AttributeType[] };

const LEAF_TYPES = new Set(['string', 'number', 'boolean', 'Date', 'object', 'any', 'IntOrString', 'RawExtension']);

function findUnknownFields(value: unknown, typeName: string, path: string): string[] {
  if (value === null || value === undefined) return [];
  const array = /^Array<(.+)>$/.exec(typeName);
  if (array) {
    return Array.isArray(value)
      ? value.flatMap((item, index) => findUnknownFields(item, array[1]!, `${path}[${index}]`))
      : [`${path}: expected a list`];
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(typeName);
  if (map) {
    return Object.entries(value as Record<string, unknown>).flatMap(([key, item]) =>
      findUnknownFields(item, map[1]!, `${path}.${key}`),
    );
  }
  if (LEAF_TYPES.has(typeName)) return [];
  const model = (clientNode as unknown as Record<string, TypeMapClass | undefined>)[typeName];
  if (typeof model?.getAttributeTypeMap !== 'function') return [`${path}: no type map for ${typeName}`];
  if (typeof value !== 'object' || Array.isArray(value)) return [`${path}: expected an object (${typeName})`];
  const attributes = new Map(model.getAttributeTypeMap().map((attribute) => [attribute.baseName, attribute.type]));
  return Object.entries(value as Record<string, unknown>).flatMap(([key, item]) => {
    const type = attributes.get(key);
    if (!type) return [`${path}.${key}: unknown field (not in ${typeName})`];
    return findUnknownFields(item, type, `${path}.${key}`);
  });
}
