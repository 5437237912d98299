import { describe, expect, it } from 'vitest';
import { planRetention, type RetentionCandidate } from '../../../src/lib/retention/retention.ts';
import {
  parseRetentionPolicy,
  type RetentionOverrides,
  type RetentionPolicy,
} from '../../../src/lib/retention/retention-policy.ts';
import { findTighterRules } from '../../../src/lib/retention/retention-tightening.ts';

// Which per-run overrides keep less than a deployment's own policy. The agent may only apply overrides with none, so
// the second half checks the claim that makes that safe: an override that is not tighter deletes a subset.

const NOW = new Date('2026-03-01T12:00:00Z');
const HOUR = 3_600_000;
const GFS = parseRetentionPolicy({ keepLast: 5, daily: 7, weekly: 4, monthly: 3, maxAgeDays: 30 });
const PLAIN = parseRetentionPolicy({ keepLast: 10 });

describe('findTighterRules', () => {
  it.each<{ case: string; policy: RetentionPolicy; overrides: RetentionOverrides; tighter: string[] }>([
    { case: 'no override', policy: GFS, overrides: {}, tighter: [] },
    { case: 'the same values', policy: GFS, overrides: { keepLast: 5, daily: 7, maxAgeDays: 30 }, tighter: [] },
    { case: 'looser values', policy: GFS, overrides: { keepLast: 50, monthly: 12, maxAgeDays: 90 }, tighter: [] },
    { case: 'a lower keep-last', policy: GFS, overrides: { keepLast: 1 }, tighter: ['keepLast 1 < 5'] },
    { case: 'fewer daily periods', policy: GFS, overrides: { daily: 2 }, tighter: ['daily 2 < 7'] },
    { case: 'a GFS rule turned off', policy: GFS, overrides: { weekly: 0 }, tighter: ['weekly 0 < 4'] },
    { case: 'a shorter max age', policy: GFS, overrides: { maxAgeDays: 1 }, tighter: ['maxAgeDays 1 < 30'] },
    {
      case: 'a max age where there was none',
      policy: PLAIN,
      overrides: { maxAgeDays: 365 },
      tighter: ['maxAgeDays 365'],
    },
    { case: 'a GFS rule where there was none', policy: PLAIN, overrides: { daily: 3 }, tighter: [] },
    {
      case: 'several at once',
      policy: GFS,
      overrides: { keepLast: 1, daily: 1, weekly: 1, monthly: 1, maxAgeDays: 1 },
      tighter: ['keepLast 1 < 5', 'daily 1 < 7', 'weekly 1 < 4', 'monthly 1 < 3', 'maxAgeDays 1 < 30'],
    },
  ])('$case', ({ policy, overrides, tighter }) => {
    expect(
      findTighterRules(policy, overrides).map(({ rule, policy: own, override }) =>
        own === null ? `${rule} ${override}` : `${rule} ${override} < ${own}`,
      ),
    ).toEqual(tighter);
  });
});

describe('an override that is not tighter deletes a subset of what the policy deletes', () => {
  /** A deterministic pseudo-random sequence (mulberry32), so a failure replays. */
  function random(seed: number): () => number {
    let state = seed;
    return () => {
      state = (state + 0x6d2b79f5) | 0;
      let t = Math.imul(state ^ (state >>> 15), 1 | state);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
    };
  }

  it('for 500 random histories, policies and overrides', () => {
    const next = random(20_261_202);
    const pick = (max: number) => Math.floor(next() * (max + 1));
    for (let round = 0; round < 500; round += 1) {
      const backups: RetentionCandidate[] = Array.from({ length: 5 + pick(60) }, (_, index) => ({
        id: `r${String(index).padStart(3, '0')}`,
        status: next() < 0.8 ? 'SUCCEEDED' : next() < 0.9 ? 'FAILED' : 'RUNNING',
        startedAt: new Date(NOW.getTime() - pick(120 * 24) * HOUR),
        verifiedAt: next() < 0.5 ? NOW : null,
        pinned: next() < 0.05,
      }));
      const policy = parseRetentionPolicy({
        keepLast: 1 + pick(10),
        ...(next() < 0.5 ? { daily: pick(10) } : {}),
        ...(next() < 0.5 ? { weekly: pick(6) } : {}),
        ...(next() < 0.5 ? { monthly: pick(4) } : {}),
        ...(next() < 0.5 ? { maxAgeDays: 1 + pick(60) } : {}),
      });
      const overrides: RetentionOverrides = {
        ...(next() < 0.5 ? { keepLast: 1 + pick(15) } : {}),
        ...(next() < 0.5 ? { daily: pick(12) } : {}),
        ...(next() < 0.5 ? { maxAgeDays: 1 + pick(90) } : {}),
      };
      const deletedIds = (input: RetentionPolicy) => {
        const plan = planRetention({ backups, policy: input, now: NOW });
        return [...plan.deleteBackups, ...plan.deleteFailedRecords].map((decision) => decision.record.id);
      };
      const own = new Set(deletedIds(policy));
      const withOverrides = deletedIds({ ...policy, ...overrides });
      if (findTighterRules(policy, overrides).length === 0) {
        expect(
          withOverrides.filter((id) => !own.has(id)),
          `round ${round}`,
        ).toEqual([]);
      }
    }
  });
});
