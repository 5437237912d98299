/**
 * The shapes of what names a deployment's pods: its namespace (a DNS-1123 label) and its pod selector (Kubernetes
 * label selector syntax), as zod schemas. They are checked wherever a deployment's pods are looked up (every export
 * and import goes through `resolveExportTarget`), and are exported for whatever creates or updates deployments.
 */
import { z } from 'zod';
import { dnsLabelSchema } from '../shared/index.ts';

/** A label's name: `[prefix/]name`, prefix a DNS subdomain (≤ 253), name ≤ 63 alphanumerics with `-_.` inside. */
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_PREFIX = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/;
const MAX_SELECTOR_LENGTH = 1024;

/** True for a valid label key (`app.kubernetes.io/instance`, `tier`). */
export function isLabelKey(key: string): boolean {
  const slash = key.indexOf('/');
  if (slash === -1) return LABEL_NAME.test(key);
  const prefix = key.slice(0, slash);
  return prefix.length <= 253 && LABEL_PREFIX.test(prefix) && LABEL_NAME.test(key.slice(slash + 1));
}

/** True for a valid label value (empty, or ≤ 63 alphanumerics with `-_.` inside). */
export function isLabelValue(value: string): boolean {
  return value === '' || LABEL_NAME.test(value);
}

const REQUIREMENT =
  /^(?:(!)?\s*([^\s=!(),]+)|([^\s=!(),]+)\s*(==|=|!=)\s*([^\s=!(),]*)|([^\s=!(),]+)\s+(in|notin)\s*\(([^()]*)\))$/;

/**
 * Why `selector` is not a label selector, or null when it is one: comma-separated requirements `key`, `!key`,
 * `key=value`, `key==value`, `key!=value`, `key in (a,b)`, `key notin (a,b)`. Pure.
 */
export function labelSelectorProblem(selector: string): string | null {
  if (selector.trim() === '') return 'it is empty (it would select every pod of the namespace)';
  if (selector.length > MAX_SELECTOR_LENGTH) return `it is longer than ${MAX_SELECTOR_LENGTH} characters`;
  for (const part of splitRequirements(selector)) {
    const requirement = part.trim();
    const match = REQUIREMENT.exec(requirement);
    if (!match)
      return `${JSON.stringify(requirement)} is not a requirement (key, !key, key=value, key!=value, key in (…))`;
    const key = match[2] ?? match[3] ?? match[6] ?? '';
    if (!isLabelKey(key)) return `${JSON.stringify(key)} is not a label key`;
    const values = match[8] !== undefined ? match[8].split(',').map((value) => value.trim()) : [match[5] ?? ''];
    if (match[8] !== undefined && values.every((value) => value === ''))
      return `${JSON.stringify(requirement)} lists no value`;
    const bad = values.find((value) => !isLabelValue(value));
    if (bad !== undefined) return `${JSON.stringify(bad)} is not a label value`;
  }
  return null;
}

/** Splits at the commas outside parentheses. */
function splitRequirements(selector: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let index = 0; index < selector.length; index += 1) {
    const character = selector[index];
    if (character === '(') depth += 1;
    else if (character === ')') depth -= 1;
    else if (character === ',' && depth === 0) {
      parts.push(selector.slice(start, index));
      start = index + 1;
    }
  }
  parts.push(selector.slice(start));
  return parts;
}

/** A Kubernetes namespace name (DNS-1123 label). */
export const namespaceSchema = dnsLabelSchema.describe('Kubernetes namespace of the deployment (a DNS-1123 label).');

/** A Kubernetes label selector, checked for its syntax. */
export const podSelectorSchema = z
  .string()
  .superRefine((selector, context) => {
    const problem = labelSelectorProblem(selector);
    if (problem) context.addIssue({ code: 'custom', message: `must be a Kubernetes label selector: ${problem}` });
  })
  .describe('Label selector of the deployment’s pods, e.g. `app.kubernetes.io/instance=db-main`.');

/** What names a deployment's pods, as stored on the Deployment row (`podSelector` null: the default selector). */
export const podQuerySchema = z.object({
  namespace: namespaceSchema,
  podSelector: podSelectorSchema.nullable(),
});

/** The problems of a deployment's namespace and pod selector, one sentence each naming the field; empty when valid. */
export function podQueryProblems(query: { namespace: string; podSelector: string | null }): string[] {
  const parsed = podQuerySchema.safeParse(query);
  if (parsed.success) return [];
  return parsed.error.issues.map(
    (issue) =>
      `${issue.path.join('.')} ${JSON.stringify(issue.path[0] === 'namespace' ? query.namespace : query.podSelector)} ${issue.message}`,
  );
}
