import { describe, expect, it } from 'vitest';
import {
  InvalidRetentionError,
  planRetention,
  type RetentionCandidate,
  type RetentionPlan,
} from '../../../src/lib/retention/retention.ts';
import type { RetentionPolicyInput } from '../../../src/lib/retention/retention-policy.ts';

// The rules of planRetention, one table row or story each. Records are built from compact history strings so that
// each case reads at a glance; times are fixed instants, never the clock.

const T0 = Date.parse('2026-03-01T03:00:00Z');
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const NOW = new Date('2026-03-02T00:00:00Z');

/**
 * Records from a history string, oldest first, one hour apart from T0: S succeeded, V succeeded and verified,
 * P succeeded and pinned, T succeeded but suspicious (tiny), F failed, X failed and pinned, R running. Ids are r00,
 * r01, … in that order.
 */
function history(pattern: string, start = T0, step = HOUR): RetentionCandidate[] {
  return [...pattern].map((letter, index) => ({
    id: `r${String(index).padStart(2, '0')}`,
    status: 'SVPT'.includes(letter) ? 'SUCCEEDED' : 'FX'.includes(letter) ? 'FAILED' : 'RUNNING',
    startedAt: new Date(start + index * step),
    verifiedAt: letter === 'V' ? new Date(start + index * step + 60_000) : null,
    pinned: letter === 'P' || letter === 'X',
    suspicious: letter === 'T',
  }));
}

/** A record at an exact instant. */
function at(id: string, iso: string, fields: Partial<RetentionCandidate> = {}): RetentionCandidate {
  return { id, status: 'SUCCEEDED', startedAt: new Date(iso), verifiedAt: null, pinned: false, ...fields };
}

function plan(
  records: RetentionCandidate[],
  policy: RetentionPolicyInput,
  now = NOW,
): RetentionPlan<RetentionCandidate> {
  return planRetention({ backups: records, policy, now });
}

const deleted = (result: RetentionPlan<RetentionCandidate>) => result.deleteBackups.map((d) => d.record.id).sort();
const deletedFailures = (result: RetentionPlan<RetentionCandidate>) =>
  result.deleteFailedRecords.map((d) => d.record.id).sort();
const kept = (result: RetentionPlan<RetentionCandidate>) => result.keep.map((k) => k.record.id).sort();
const reasonsOf = (result: RetentionPlan<RetentionCandidate>) =>
  Object.fromEntries(result.keep.map((k) => [k.record.id, k.reasons]));

describe('keep-last', () => {
  it('keeps the newest 10 of 12 successful backups by default and deletes the 2 oldest as kept by no rule', () => {
    const result = plan(history('SSSSSSSSSSSS'), {});
    expect(result.policy).toEqual({ keepLast: 10, timeZone: 'UTC' });
    expect(result.deleteBackups.map((d) => [d.record.id, d.reason])).toEqual([
      ['r01', 'no-keep-rule'],
      ['r00', 'no-keep-rule'],
    ]);
    expect(result.keep).toHaveLength(10);
    expect(reasonsOf(result).r11).toEqual(['newest', 'keep-last']);
    expect(reasonsOf(result).r02).toEqual(['keep-last']);
  });

  it('never deletes the newest success, even when every newer backup failed', () => {
    const result = plan(history('SSSFFFFFFFFFFFF'), { keepLast: 1 });
    expect(deleted(result)).toEqual(['r00', 'r01']);
    expect(reasonsOf(result).r02).toEqual(['newest', 'keep-last']);
    expect(deletedFailures(result)).toEqual([]);
    expect(reasonsOf(result).r14).toEqual(['recent-failure']);
  });

  it('deletes failed records older than the oldest kept success, not newer ones', () => {
    const result = plan(history('FSFSFSF'), { keepLast: 2 });
    expect(deleted(result)).toEqual(['r01']);
    expect(result.deleteFailedRecords.map((d) => [d.record.id, d.reason])).toEqual([
      ['r02', 'old-failure'],
      ['r00', 'old-failure'],
    ]);
    expect(kept(result)).toEqual(['r03', 'r04', 'r05', 'r06']);
  });

  it.each([
    ['no records', ''],
    ['fewer successes than keepLast', 'SFS'],
    ['only failures', 'FFFF'],
    ['only running', 'RR'],
  ])('deletes nothing with %s', (_label, pattern) => {
    const result = plan(history(pattern), { keepLast: 5 });
    expect(result.deleteBackups).toEqual([]);
    expect(result.deleteFailedRecords).toEqual([]);
    expect(result.keep).toHaveLength(pattern.length);
  });

  it('keeps every failure while no backup has succeeded yet, saying so', () => {
    expect(reasonsOf(plan(history('FF'), { keepLast: 1 }))).toEqual({
      r00: ['no-success-yet'],
      r01: ['no-success-yet'],
    });
  });

  it('never touches RUNNING records, however old', () => {
    const result = plan(history('RSSSR'), { keepLast: 1 });
    expect(reasonsOf(result)).toMatchObject({ r00: ['running'], r04: ['running'] });
    expect(deleted(result)).toEqual(['r01', 'r02']);
  });

  it('is idempotent: planning the kept set again deletes nothing more', () => {
    const policy = { keepLast: 3, daily: 2, maxAgeDays: 1 };
    const first = plan(history('FSSFSSSSFSSSSSS', T0 - 3 * DAY, 7 * HOUR), policy);
    expect(first.deleteBackups.length).toBeGreaterThan(0);
    const second = plan(
      first.keep.map((k) => k.record),
      policy,
    );
    expect(second.deleteBackups).toEqual([]);
    expect(second.deleteFailedRecords).toEqual([]);
  });

  it('does not depend on input order', () => {
    const records = history('SFSSFSVS');
    const shuffled = [
      records[3]!,
      records[7]!,
      records[0]!,
      records[5]!,
      records[1]!,
      records[6]!,
      records[4]!,
      records[2]!,
    ];
    const policy = { keepLast: 2, daily: 1 };
    expect(plan(shuffled, policy)).toEqual(plan(records, policy));
  });
});

describe('always kept', () => {
  it('keeps the newest verified backup even when it is older than the newest success and outside keep-last', () => {
    const result = plan(history('SVSSS'), { keepLast: 2 });
    expect(reasonsOf(result)).toEqual({ r04: ['newest', 'keep-last'], r03: ['keep-last'], r01: ['newest-verified'] });
    expect(deleted(result)).toEqual(['r00', 'r02']);
  });

  it('keeps every pinned backup, however old, and a pinned one does not widen the window for old failures', () => {
    const result = plan(history('PFSFPFSS'), { keepLast: 2 }, new Date(T0 + 400 * DAY));
    expect(reasonsOf(result)).toEqual({
      r07: ['newest', 'keep-last'],
      r06: ['keep-last'],
      r04: ['pinned'],
      r00: ['pinned'],
    });
    expect(deleted(result)).toEqual(['r02']);
    expect(deletedFailures(result)).toEqual(['r01', 'r03', 'r05']);
  });

  it('keeps a pinned failed record', () => {
    expect(reasonsOf(plan(history('XSS'), { keepLast: 1 }))).toEqual({ r02: ['newest', 'keep-last'], r00: ['pinned'] });
  });

  it('gives every reason that applies to one backup', () => {
    const result = plan(history('SSV'), { keepLast: 1, daily: 1, weekly: 1, monthly: 1 });
    expect(reasonsOf(result).r02).toEqual(['newest', 'newest-verified', 'keep-last', 'daily', 'weekly', 'monthly']);
  });
});

describe('max age', () => {
  const now = new Date(T0 + 10 * DAY);

  it('stops keep-last from keeping backups older than maxAgeDays, and says so', () => {
    const records = history('SSSS', T0, 3 * DAY); // days 0, 3, 6, 9 before `now` at day 10: ages 10, 7, 4, 1
    const result = plan(records, { keepLast: 4, maxAgeDays: 5 }, now);
    expect(result.deleteBackups.map((d) => [d.record.id, d.reason])).toEqual([
      ['r01', 'max-age'],
      ['r00', 'max-age'],
    ]);
    expect(kept(result)).toEqual(['r02', 'r03']);
  });

  it('is a strict bound: a backup exactly maxAgeDays old is still kept', () => {
    const records = [at('edge', '2026-03-06T03:00:00Z'), at('newer', '2026-03-10T03:00:00Z')];
    expect(kept(plan(records, { keepLast: 2, maxAgeDays: 5 }, new Date('2026-03-11T03:00:00Z')))).toEqual([
      'edge',
      'newer',
    ]);
    expect(deleted(plan(records, { keepLast: 2, maxAgeDays: 5 }, new Date('2026-03-11T03:00:00.001Z')))).toEqual([
      'edge',
    ]);
  });

  it('never deletes the newest success, however old', () => {
    const result = plan(history('SS'), { keepLast: 5, maxAgeDays: 1 }, new Date(T0 + 400 * DAY));
    expect(reasonsOf(result)).toEqual({ r01: ['newest'] });
    expect(result.deleteBackups).toEqual([{ record: expect.objectContaining({ id: 'r00' }), reason: 'max-age' }]);
  });

  it('does not limit GFS: monthly keeps its months beyond the max age', () => {
    const records = [
      at('jan', '2026-01-31T03:00:00Z'),
      at('feb', '2026-02-28T03:00:00Z'),
      at('mar', '2026-03-09T03:00:00Z'),
    ];
    const result = plan(records, { keepLast: 3, monthly: 3, maxAgeDays: 5 }, now);
    expect(reasonsOf(result)).toEqual({ mar: ['newest', 'keep-last', 'monthly'], feb: ['monthly'], jan: ['monthly'] });
  });
});

describe('GFS periods', () => {
  it('counts only periods that hold a successful backup: a gap of days is skipped, failures do not count', () => {
    const records = [
      at('d1', '2026-03-01T03:00:00Z'),
      at('d2', '2026-03-02T03:00:00Z'),
      at('d5-failed', '2026-03-05T03:00:00Z', { status: 'FAILED' }),
      at('d9', '2026-03-09T03:00:00Z'),
      at('d10', '2026-03-10T03:00:00Z'),
    ];
    const result = plan(records, { keepLast: 1, daily: 3 }, new Date('2026-03-10T12:00:00Z'));
    expect(kept(result)).toEqual(['d10', 'd2', 'd5-failed', 'd9'].sort());
    expect(deleted(result)).toEqual(['d1']);
  });

  it('keeps the newest success of each day: later backups of a day replace earlier ones', () => {
    const records = history('SSSSSS', Date.parse('2026-03-01T08:00:00Z'), 6 * HOUR); // 08, 14, 20 on Mar 1; 02, 08, 14 on Mar 2
    expect(reasonsOf(plan(records, { keepLast: 1, daily: 2 }))).toEqual({
      r05: ['newest', 'keep-last', 'daily'],
      r02: ['daily'],
    });
  });

  it('breaks a tie of equal start times by the larger id, whatever the input order', () => {
    const records = [at('b', '2026-03-01T03:00:00Z'), at('a', '2026-03-01T03:00:00Z'), at('c', '2026-02-28T03:00:00Z')];
    for (const order of [records, [...records].reverse()]) {
      expect(reasonsOf(plan(order, { keepLast: 1, daily: 2 }))).toEqual({
        b: ['newest', 'keep-last', 'daily'],
        c: ['daily'],
      });
    }
  });

  it.each([
    {
      case: 'days in UTC',
      policy: { daily: 2, timeZone: 'UTC' },
      // 22:30 and 23:30 UTC on Mar 28 are one UTC day
      kept: ['late', 'prev'],
    },
    {
      case: 'days in Europe/Berlin: 23:30 CET on Mar 28 and 00:30 CET on Mar 29 are two local days',
      policy: { daily: 2, timeZone: 'Europe/Berlin' },
      kept: ['early', 'late'],
    },
  ])('$case', ({ policy, kept: expected }) => {
    const records = [
      at('prev', '2026-03-27T12:00:00Z'),
      at('early', '2026-03-28T22:30:00Z'),
      at('late', '2026-03-28T23:30:00Z'),
    ];
    expect(kept(plan(records, { keepLast: 1, ...policy }))).toEqual(expected.sort());
  });

  it('reads a 23-hour day (spring forward in Berlin) as one day: 00:00 and 23:59 CEST are the same local day', () => {
    // 2026-03-29: clocks go 02:00 CET -> 03:00 CEST. 2026-03-28T23:00Z is 00:00 CET on Mar 29; 21:59Z is 23:59 CEST.
    const records = [
      at('midnight', '2026-03-28T23:00:00Z'),
      at('last-minute', '2026-03-29T21:59:00Z'),
      at('next-day', '2026-03-29T22:00:00Z'),
    ];
    const result = plan(records, { keepLast: 1, daily: 3, timeZone: 'Europe/Berlin' });
    expect(reasonsOf(result)).toEqual({ 'next-day': ['newest', 'keep-last', 'daily'], 'last-minute': ['daily'] });
    expect(deleted(result)).toEqual(['midnight']);
  });

  it('reads a 25-hour day (fall back in New York) as one day', () => {
    // 2026-11-01: clocks go 02:00 EDT -> 01:00 EST. 04:00Z is 00:00 EDT; 04:59Z next day is 23:59 EST of Nov 1.
    const records = [
      at('start', '2026-11-01T04:00:00Z'),
      at('end', '2026-11-02T04:59:00Z'),
      at('after', '2026-11-02T05:00:00Z'),
    ];
    const result = plan(records, { keepLast: 1, daily: 3, timeZone: 'America/New_York' });
    expect(reasonsOf(result)).toEqual({ after: ['newest', 'keep-last', 'daily'], end: ['daily'] });
  });

  it('uses ISO weeks (Monday to Sunday, in the zone) for weekly', () => {
    const records = [
      at('sun', '2026-03-01T12:00:00Z'), // Sunday, ISO week 2026-W09
      at('mon', '2026-03-02T12:00:00Z'), // Monday, 2026-W10
      at('sat', '2026-03-07T12:00:00Z'), // Saturday, 2026-W10
      at('sun-late-utc', '2026-03-08T23:30:00Z'), // Sunday 23:30 UTC (W10) but Monday 00:30 in Berlin (W11)
    ];
    expect(kept(plan(records, { keepLast: 1, weekly: 3, timeZone: 'UTC' }, new Date('2026-03-09T12:00:00Z')))).toEqual([
      'sun',
      'sun-late-utc',
    ]);
    expect(
      kept(plan(records, { keepLast: 1, weekly: 3, timeZone: 'Europe/Berlin' }, new Date('2026-03-09T12:00:00Z'))),
    ).toEqual(['sat', 'sun', 'sun-late-utc']);
  });

  it('puts New Year days into the ISO week of their Thursday (2027-01-01 is in 2026-W53)', () => {
    const records = [
      at('dec-28', '2026-12-28T12:00:00Z'),
      at('jan-01', '2027-01-01T12:00:00Z'),
      at('jan-04', '2027-01-04T12:00:00Z'),
    ];
    expect(kept(plan(records, { keepLast: 1, weekly: 3 }, new Date('2027-01-05T00:00:00Z')))).toEqual([
      'jan-01',
      'jan-04',
    ]);
  });

  it('uses calendar months in the zone for monthly', () => {
    const records = [
      at('jan-31', '2026-01-31T12:00:00Z'),
      at('feb-01-tokyo', '2026-01-31T16:00:00Z'),
      at('feb-15', '2026-02-15T12:00:00Z'),
    ];
    expect(kept(plan(records, { keepLast: 1, monthly: 2, timeZone: 'UTC' }))).toEqual(['feb-01-tokyo', 'feb-15']);
    expect(kept(plan(records, { keepLast: 1, monthly: 2, timeZone: 'Asia/Tokyo' }))).toEqual(['feb-15', 'jan-31']);
  });

  it('treats 0 like an absent rule', () => {
    expect(plan(history('SSS'), { keepLast: 1, daily: 0, weekly: 0, monthly: 0 })).toEqual({
      ...plan(history('SSS'), { keepLast: 1 }),
      policy: expect.anything(),
    });
  });
});

describe('invalid policies', () => {
  it.each([
    [
      { keepLast: 0 },
      /keepLast must be a whole number >= 1 \(the newest successful backup is never deleted\) \(got 0\)/,
    ],
    [{ keepLast: -1 }, /keepLast must be a whole number >= 1/],
    [{ keepLast: 1.5 }, /keepLast must be a whole number >= 1 \(got 1\.5\)/],
    [{ keepLast: Number.NaN }, /keepLast must be a whole number >= 1/],
    [{ daily: -1 }, /daily must be 0 or more \(0 turns the day rule off\) \(got -1\)/],
    [{ weekly: 2.5 }, /weekly must be a whole number \(got 2\.5\)/],
    [{ maxAgeDays: 0 }, /maxAgeDays must be a whole number >= 1/],
    [{ timeZone: 'Mars/Olympus' }, /timeZone must be an IANA time zone name .* \(got "Mars\/Olympus"\)/],
  ])('refuses %j before deciding anything', (policy, message) => {
    expect(() => plan(history('SS'), policy as RetentionPolicyInput)).toThrow(InvalidRetentionError);
    expect(() => plan(history('SS'), policy as RetentionPolicyInput)).toThrow(message);
  });
});

describe('suspicious backups', () => {
  it('never let a run of tiny backups push the normal ones out: keep-last counts only the normal ones', () => {
    // Three normal backups, then five tiny ones, with keep-last 3.
    const result = plan(history('SSSTTTTT'), { keepLast: 3 });

    expect(deleted(result)).toEqual([]);
    expect(reasonsOf(result)).toMatchObject({
      r00: ['keep-last'],
      r01: ['keep-last'],
      r02: ['newest-normal', 'keep-last'],
      r07: ['newest', 'recent-suspicious'],
      r03: ['recent-suspicious'],
    });
  });

  it('deletes suspicious backups older than the oldest normal backup kept', () => {
    const result = plan(history('STSTSS'), { keepLast: 2 });

    expect(result.deleteBackups.map((d) => [d.record.id, d.reason])).toEqual([
      ['r03', 'old-suspicious'],
      ['r02', 'no-keep-rule'],
      ['r01', 'old-suspicious'],
      ['r00', 'no-keep-rule'],
    ]);
  });

  it('keeps the newest normal backup when keep-last would drop it for its age and the newest is suspicious', () => {
    const result = plan(history('SST', T0, 10 * DAY), { keepLast: 5, maxAgeDays: 1 }, new Date(T0 + 21 * DAY));

    expect(reasonsOf(result).r01).toEqual(['newest-normal']);
    expect(reasonsOf(result).r02).toEqual(['newest', 'recent-suspicious']);
    expect(deleted(result)).toEqual(['r00']);
  });

  it('keeps the newest verified normal backup rather than a verified suspicious one', () => {
    const records = history('VSS').concat([
      at('t1', '2026-03-01T09:00:00Z', { suspicious: true, verifiedAt: new Date('2026-03-01T09:01:00Z') }),
    ]);
    const result = plan(records, { keepLast: 1 });

    expect(reasonsOf(result).r00).toEqual(['newest-verified']);
    expect(reasonsOf(result).t1).toEqual(['newest', 'recent-suspicious']);
  });

  it('counts suspicious backups like normal ones when no normal backup is left', () => {
    const result = plan(history('TTTT'), { keepLast: 2 });

    expect(deleted(result)).toEqual(['r00', 'r01']);
  });
});
