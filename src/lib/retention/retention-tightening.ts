import type { RetentionOverrides, RetentionPolicy } from './retention-policy.ts';

/** One rule an override makes tighter than the policy. `policy` null: the policy has no such rule (no max age). */
export interface TighterRule {
  rule: keyof RetentionOverrides;
  policy: number | null;
  override: number;
}

const COUNT_RULES = ['keepLast', 'daily', 'weekly', 'monthly'] as const;

/**
 * The rules of `overrides` that keep less than `policy` does: a smaller keep-last or GFS count (an absent GFS rule
 * counts as 0), or a max age where the policy has none or a longer one. An override that keeps as much or more is
 * not listed: each rule then keeps a superset of what the policy's keeps (and the failed records kept with them),
 * so retention under it deletes a subset of what the policy deletes. Pure.
 */
export function findTighterRules(policy: RetentionPolicy, overrides: RetentionOverrides): TighterRule[] {
  const tighter: TighterRule[] = [];
  for (const rule of COUNT_RULES) {
    const override = overrides[rule];
    const own = policy[rule] ?? 0;
    if (override !== undefined && override < own) tighter.push({ rule, policy: own, override });
  }
  const maxAge = overrides.maxAgeDays;
  if (maxAge !== undefined && (policy.maxAgeDays === undefined || maxAge < policy.maxAgeDays)) {
    tighter.push({ rule: 'maxAgeDays', policy: policy.maxAgeDays ?? null, override: maxAge });
  }
  return tighter;
}
