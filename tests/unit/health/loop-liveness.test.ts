import { describe, expect, it } from 'vitest';
import { judgeLiveness, type LoopActivity } from '../../../src/lib/health/loop-liveness.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const STARTED = new Date('2026-03-01T02:00:00Z');
const at = (minutes: number) => new Date(STARTED.getTime() + minutes * MINUTE);
/** A worker cycling every minute whose backups may run six hours. */
const BASE: LoopActivity = {
  now: at(0),
  startedAt: STARTED,
  lastCycleAt: null,
  cycleRunningSince: null,
  intervalMs: MINUTE,
  cycleTimeoutMs: 6 * HOUR,
};

describe('judgeLiveness', () => {
  it.each<[string, Partial<LoopActivity>, boolean]>([
    ['just started, no cycle yet', { now: at(2) }, true],
    ['started three intervals ago and no cycle has ever completed', { now: at(3.5) }, false],
    ['the last cycle ended one interval ago', { now: at(10), lastCycleAt: at(9) }, true],
    ['the last cycle ended exactly three intervals ago', { now: at(10), lastCycleAt: at(7) }, true],
    ['the last cycle ended more than three intervals ago, none running', { now: at(10), lastCycleAt: at(6.9) }, false],
    [
      'a cycle running for two hours (a large backup), within its timeout',
      { now: at(130), lastCycleAt: at(9), cycleRunningSince: at(10) },
      true,
    ],
    [
      'a cycle running longer than its timeout',
      { now: at(10 + 6 * 60 + 1), lastCycleAt: at(9), cycleRunningSince: at(10) },
      false,
    ],
    [
      'a short timeout still allows three intervals',
      { now: at(12.5), cycleRunningSince: at(10), cycleTimeoutMs: 0 },
      true,
    ],
    [
      'a short timeout, running longer than three intervals',
      { now: at(13.5), cycleRunningSince: at(10), cycleTimeoutMs: 0 },
      false,
    ],
  ])('%s: alive = %s', (_story, activity, alive) => {
    expect(judgeLiveness({ ...BASE, ...activity }).alive).toBe(alive);
  });

  it('says why the loop counts as stuck', () => {
    expect(judgeLiveness({ ...BASE, now: at(10), lastCycleAt: at(5) })).toEqual({
      alive: false,
      reason: 'no cycle has completed since 2026-03-01T02:05:00.000Z (300 s; 3 intervals of 60 s are allowed)',
    });
    expect(judgeLiveness({ ...BASE, now: at(4) })).toMatchObject({
      reason: expect.stringContaining('no cycle has completed since the worker started at 2026-03-01T02:00:00.000Z'),
    });
    expect(judgeLiveness({ ...BASE, now: at(400), cycleRunningSince: at(10) })).toMatchObject({
      reason: expect.stringContaining('the cycle started at 2026-03-01T02:10:00.000Z has run for 23400 s'),
    });
  });
});
