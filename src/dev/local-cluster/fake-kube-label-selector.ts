/** One clause of a Kubernetes label selector (`app=pg`, `tier!=cache`, `backup`, `!legacy`, `env in (a,b)`). */
export type LabelRequirement =
  | { key: string; operator: 'exists' | 'doesNotExist' }
  | { key: string; operator: 'equals' | 'notEquals'; value: string }
  | { key: string; operator: 'in' | 'notIn'; values: string[] };

export type LabelSelectorParseResult = { ok: true; requirements: LabelRequirement[] } | { ok: false; error: string };

const KEY = String.raw`(?:[a-z0-9](?:[-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?`;
const VALUE = String.raw`(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?`;
const EXISTENCE = new RegExp(String.raw`^(!?)\s*(${KEY})$`);
const EQUALITY = new RegExp(String.raw`^(${KEY})\s*(==|!=|=)\s*(${VALUE})$`);
const SET = new RegExp(String.raw`^(${KEY})\s+(in|notin)\s*\(([^()]*)\)$`);
const SINGLE_VALUE = new RegExp(`^${VALUE}$`);

/**
 * Parses the `labelSelector` query parameter the way the API server does for equality, existence and set clauses.
 * The numeric `gt`/`lt` operators are not supported and come back as parse errors.
 */
export function parseLabelSelector(selector: string): LabelSelectorParseResult {
  if (selector.trim() === '') return { ok: true, requirements: [] };
  const requirements: LabelRequirement[] = [];
  for (const rawClause of splitClauses(selector)) {
    const clause = rawClause.trim();
    const requirement = parseClause(clause);
    if (!requirement)
      return { ok: false, error: `unable to parse requirement: invalid label selector clause "${clause}"` };
    requirements.push(requirement);
  }
  return { ok: true, requirements };
}

/** True when `labels` satisfies every requirement (an empty list matches everything, like the API server). */
export function matchesLabelSelector(labels: Record<string, string>, requirements: LabelRequirement[]): boolean {
  return requirements.every((requirement) => {
    const actual = Object.hasOwn(labels, requirement.key) ? labels[requirement.key] : undefined;
    switch (requirement.operator) {
      case 'exists':
        return actual !== undefined;
      case 'doesNotExist':
        return actual === undefined;
      case 'equals':
        return actual === requirement.value;
      case 'notEquals':
        return actual !== requirement.value;
      case 'in':
        return actual !== undefined && requirement.values.includes(actual);
      case 'notIn':
        return actual === undefined || !requirement.values.includes(actual);
    }
  });
}

function parseClause(clause: string): LabelRequirement | undefined {
  const existence = EXISTENCE.exec(clause);
  if (existence) return { key: existence[2]!, operator: existence[1] === '!' ? 'doesNotExist' : 'exists' };
  const equality = EQUALITY.exec(clause);
  if (equality)
    return { key: equality[1]!, operator: equality[2] === '!=' ? 'notEquals' : 'equals', value: equality[3]! };
  const set = SET.exec(clause);
  if (!set) return undefined;
  const values = set[3]!.split(',').map((value) => value.trim());
  if (!values.every((value) => SINGLE_VALUE.test(value))) return undefined;
  return { key: set[1]!, operator: set[2] === 'in' ? 'in' : 'notIn', values };
}

/** Splits on commas that are not inside the parentheses of an `in (...)` clause. */
function splitClauses(selector: string): string[] {
  const clauses: string[] = [];
  let depth = 0;
  let start = 0;
  for (let index = 0; index < selector.length; index += 1) {
    const character = selector[index];
    if (character === '(') depth += 1;
    else if (character === ')') depth -= 1;
    else if (character === ',' && depth === 0) {
      clauses.push(selector.slice(start, index));
      start = index + 1;
    }
  }
  clauses.push(selector.slice(start));
  return clauses;
}
