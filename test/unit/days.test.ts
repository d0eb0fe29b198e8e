import { afterAll, describe, expect, it } from 'vitest';
import { daysLeft, utcDayStart } from '../../src/services/accounts/days.js';
import { dueStage } from '../../src/services/notices/reminders.js';

const ZONES = ['UTC', 'America/New_York', 'Europe/London', 'Pacific/Auckland', 'Asia/Kolkata'];
const original = process.env.TZ;
afterAll(() => {
  if (original === undefined) delete process.env.TZ;
  else process.env.TZ = original;
});

const d = (s: string) => new Date(s);

// [expiry, now, days left]: around the DST changes of New York (2027-03-14, 2027-11-07) and
// London (2027-03-28, 2027-10-31), month ends, a leap day and the year end.
const CASES: Array<[string, string, number]> = [
  ['2027-03-15T00:00:00Z', '2027-03-13T12:00:00Z', 2],
  ['2027-03-14T07:00:00Z', '2027-03-13T06:59:00Z', 1],
  ['2027-03-29T00:00:00Z', '2027-03-27T23:59:59Z', 2],
  ['2027-03-28T01:30:00Z', '2027-03-28T00:30:00Z', 0],
  ['2027-10-31T02:00:00Z', '2027-10-30T00:00:00Z', 1],
  ['2027-11-08T03:00:00Z', '2027-11-07T23:30:00Z', 1],
  ['2027-11-07T05:00:00Z', '2027-11-01T05:00:00Z', 6],
  ['2027-03-01T00:00:00Z', '2027-02-28T23:59:00Z', 1],
  ['2028-03-01T00:00:00Z', '2028-02-28T12:00:00Z', 2],
  ['2027-05-01T00:00:00Z', '2027-04-30T23:00:00Z', 1],
  ['2028-01-01T00:00:00Z', '2027-12-31T23:59:59Z', 1],
  ['2027-12-31T23:59:59Z', '2027-12-01T00:00:00Z', 30],
  ['2027-11-20T00:00:00Z', '2027-11-20T23:59:59Z', 0],
  ['2027-11-19T23:59:59Z', '2027-11-20T00:00:00Z', -1],
  ['2027-01-01T00:00:00Z', '2027-12-31T00:00:00Z', -364],
];

describe('daysLeft counts UTC calendar days', () => {
  for (const zone of ZONES) {
    it(`gives the same answers with TZ=${zone}`, () => {
      process.env.TZ = zone;
      // The zone really changed: New York's offset differs across its DST change.
      if (zone === 'America/New_York') {
        expect(d('2027-03-13T12:00:00Z').getTimezoneOffset()).toBe(300);
        expect(d('2027-03-15T12:00:00Z').getTimezoneOffset()).toBe(240);
      }
      for (const [expiry, now, want] of CASES) expect(daysLeft(d(expiry), d(now)), `${expiry} from ${now} in ${zone}`).toBe(want);
    });
  }

  it('walks day by day through the DST and month-end weeks without skipping or repeating a number', () => {
    for (const zone of ZONES) {
      process.env.TZ = zone;
      for (const expiry of ['2027-03-20T00:00:00Z', '2027-11-10T17:00:00Z', '2028-03-02T00:00:00Z']) {
        let prev: number | undefined;
        for (let t = Date.parse(expiry) - 45 * 86_400_000; t < Date.parse(expiry) + 2 * 86_400_000; t += 3_600_000) {
          const n = daysLeft(d(expiry), new Date(t));
          if (prev !== undefined) expect(prev - n).toBeGreaterThanOrEqual(0);
          if (prev !== undefined) expect(prev - n).toBeLessThanOrEqual(1);
          prev = n;
        }
      }
    }
  });

  it('utcDayStart is UTC midnight whatever the zone', () => {
    process.env.TZ = 'America/New_York';
    expect(utcDayStart(d('2027-03-14T03:30:00Z')).toISOString()).toBe('2027-03-14T00:00:00.000Z');
    expect(utcDayStart(d('2027-02-28T23:00:00Z'), 1).toISOString()).toBe('2027-03-01T00:00:00.000Z');
  });
});

describe('dueStage', () => {
  const stages = [30, 14, 7, 1];
  it('is the smallest stage at or above the days left, none before 30 or after expiry', () => {
    expect(dueStage(31, stages)).toBeUndefined();
    expect(dueStage(30, stages)).toBe(30);
    expect(dueStage(15, stages)).toBe(30);
    expect(dueStage(14, stages)).toBe(14);
    expect(dueStage(8, stages)).toBe(14);
    expect(dueStage(7, stages)).toBe(7);
    expect(dueStage(2, stages)).toBe(7);
    expect(dueStage(1, stages)).toBe(1);
    expect(dueStage(0, stages)).toBe(1);
    expect(dueStage(-1, stages)).toBeUndefined();
  });
});
