import { describe, expect, it } from 'vitest';
import {
  InvalidRetentionError,
  describeRetentionPolicy,
  parseRetentionPolicy,
  retentionPolicyOf,
  type DeploymentRetentionColumns,
} from '../../../src/lib/retention/retention-policy.ts';

// The policy schema is the single source for every way a policy arrives: the Deployment columns, CLI flags and the
// agent tool. Its errors name the field as the caller knows it.

const COLUMNS: DeploymentRetentionColumns = {
  backupRetention: 10,
  retentionDaily: null,
  retentionWeekly: null,
  retentionMonthly: null,
  retentionMaxAgeDays: null,
  backupTimezone: 'UTC',
};

function invalid(run: () => unknown): InvalidRetentionError {
  try {
    run();
  } catch (error) {
    if (error instanceof InvalidRetentionError) return error;
    throw error;
  }
  throw new Error('expected InvalidRetentionError');
}

describe('retentionPolicyOf (Deployment columns)', () => {
  it('reads the defaults as keep-last 10 in UTC, null columns as rules turned off', () => {
    expect(retentionPolicyOf(COLUMNS)).toEqual({ keepLast: 10, timeZone: 'UTC' });
  });

  it('reads GFS, max age and the zone from the columns', () => {
    const columns = {
      ...COLUMNS,
      backupRetention: 3,
      retentionDaily: 7,
      retentionWeekly: 4,
      retentionMonthly: 6,
      retentionMaxAgeDays: 90,
      backupTimezone: 'Europe/Berlin',
    };
    expect(retentionPolicyOf(columns)).toEqual({
      keepLast: 3,
      daily: 7,
      weekly: 4,
      monthly: 6,
      maxAgeDays: 90,
      timeZone: 'Europe/Berlin',
    });
  });

  it('lets overrides replace single columns for one run, and 0 turn a GFS rule off', () => {
    const columns = { ...COLUMNS, retentionDaily: 7, retentionWeekly: 4 };
    expect(retentionPolicyOf(columns, { keepLast: 2, daily: 0 })).toEqual({
      keepLast: 2,
      daily: 0,
      weekly: 4,
      timeZone: 'UTC',
    });
  });

  it.each([
    [
      { backupRetention: 0 },
      'backupRetention must be a whole number >= 1 (the newest successful backup is never deleted) (got 0)',
    ],
    [{ retentionDaily: -1 }, 'retentionDaily must be 0 or more (0 turns the day rule off) (got -1)'],
    [{ retentionWeekly: -3 }, 'retentionWeekly must be 0 or more (0 turns the ISO week rule off) (got -3)'],
    [{ retentionMonthly: 2.5 }, 'retentionMonthly must be a whole number (got 2.5)'],
    [{ retentionMaxAgeDays: 0 }, 'retentionMaxAgeDays must be a whole number >= 1 (absent: no age limit) (got 0)'],
    [{ retentionDaily: 100_000 }, 'retentionDaily must be at most 10000 (got 100000)'],
    [
      { backupTimezone: 'Europe/Atlantis' },
      'backupTimezone must be an IANA time zone name such as UTC or Europe/Berlin (got "Europe/Atlantis")',
    ],
  ])('names the column of a bad value: %j', (bad, message) => {
    const error = invalid(() => retentionPolicyOf({ ...COLUMNS, ...bad }));
    expect(error.message).toBe(`retention: ${message}`);
    expect(error.problems).toHaveLength(1);
  });

  it('names an override by its own name, and reports every bad field at once', () => {
    const error = invalid(() => retentionPolicyOf({ ...COLUMNS, retentionDaily: -1 }, { keepLast: 0 }));
    expect(error.problems.map((problem) => [problem.field, problem.value])).toEqual([
      ['keepLast', 0],
      ['retentionDaily', -1],
    ]);
  });
});

describe('parseRetentionPolicy', () => {
  it('renames fields for the caller and refuses unknown ones', () => {
    expect(invalid(() => parseRetentionPolicy({ keepLast: 0 }, { keepLast: '--keep' })).details).toBe(
      '--keep must be a whole number >= 1 (the newest successful backup is never deleted) (got 0)',
    );
    expect(invalid(() => parseRetentionPolicy({ yearly: 3 })).message).toMatch(/^retention: yearly /);
    expect(invalid(() => parseRetentionPolicy({ daily: '7' })).message).toBe(
      'retention: daily must be a whole number (got "7")',
    );
  });
});

describe('describeRetentionPolicy', () => {
  it.each([
    [{ keepLast: 10, timeZone: 'UTC' }, 'keep-last 10'],
    [
      { keepLast: 1, daily: 7, weekly: 4, monthly: 6, timeZone: 'Europe/Berlin' },
      'keep-last 1, daily 7, weekly 4, monthly 6 (periods in Europe/Berlin)',
    ],
    [{ keepLast: 5, daily: 0, maxAgeDays: 30, timeZone: 'UTC' }, 'keep-last 5, max age 30 days for keep-last'],
  ])('%j -> %s', (policy, words) => {
    expect(describeRetentionPolicy(policy)).toBe(words);
  });
});
