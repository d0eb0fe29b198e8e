import { describe, expect, it } from 'vitest';
import { shortDate, shortTime } from '../../src/output/format.js';
import { linkState } from '../../src/services/links/reset-links.js';

describe('short times for tables', () => {
  it('cut the ISO string at its T, also for a year past 9999 or before year 0', () => {
    expect(shortTime('2026-11-20T10:00:59.999Z')).toBe('2026-11-20 10:00');
    expect(shortTime('+012345-06-07T08:09:10.111Z')).toBe('+012345-06-07 08:09');
    expect(shortTime('-000043-03-15T12:00:00.000Z')).toBe('-000043-03-15 12:00');
    expect(shortDate('+012345-06-07T08:09:10.111Z')).toBe('+012345-06-07');
    expect([shortTime(null), shortDate(null), shortTime('infinity')]).toEqual(['', '', '']);
  });
});

describe('a reset link whose expiry the database holds as infinity', () => {
  it('is valid, not an error (pg reads it as the number Infinity, not a Date)', () => {
    const now = new Date('2026-11-29T00:00:00Z');
    expect(linkState({ used_at: null, revoked_at: null, expires_at: Infinity as unknown as Date }, now)).toBe('valid');
    expect(linkState({ used_at: null, revoked_at: null, expires_at: -Infinity as unknown as Date }, now)).toBe('expired');
    expect(linkState({ used_at: null, revoked_at: null, expires_at: new Date('2026-11-28T00:00:00Z') }, now)).toBe('expired');
  });
});
