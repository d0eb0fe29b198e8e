import { describe, expect, it } from 'vitest';
import { formatDuration, parseCount, parseDate, parseDuration, parseUserRef, quote } from '../../src/parse.js';

describe('parseDuration', () => {
  it.each([
    ['90m', 90 * 60_000],
    ['12h', 12 * 3_600_000],
    ['30d', 30 * 86_400_000],
    ['2w', 14 * 86_400_000],
  ])('%s', (text, ms) => expect(parseDuration(text, '--ttl')).toBe(ms));

  it.each(['', '30', 'd', '3 days', '-1d', '1.5h', '0m', '10s', '1y', '30D ', 'ten m', '9999999d'])('rejects %j with exit 2 naming the flag', (text) => {
    expect(() => parseDuration(text, '--ttl')).toThrowError(expect.objectContaining({ exitCode: 2, message: expect.stringContaining('--ttl') }));
  });

  it('formats back', () => {
    expect(formatDuration(parseDuration('2w', 'x'))).toBe('2w');
    expect(formatDuration(parseDuration('90m', 'x'))).toBe('90m');
    expect(formatDuration(parseDuration('36h', 'x'))).toBe('36h');
  });
});

describe('parseDate', () => {
  it('takes a date as UTC midnight and a date-time with its zone', () => {
    expect(parseDate('2026-12-01', '--date').toISOString()).toBe('2026-12-01T00:00:00.000Z');
    expect(parseDate('2026-12-01T09:00:00Z', '--date').toISOString()).toBe('2026-12-01T09:00:00.000Z');
    expect(parseDate('2026-12-01T09:00-05:00', '--date').toISOString()).toBe('2026-12-01T14:00:00.000Z');
    expect(parseDate('2028-02-29', '--date').toISOString()).toBe('2028-02-29T00:00:00.000Z');
  });
  it.each(['2026-02-30', '2026-13-01', '2026-1-1', '01/12/2026', 'tomorrow', '2026-12-01T25:00Z', '2026-12-01T09:00', '2027-02-29', ''])('rejects %j', (text) => {
    expect(() => parseDate(text, '--date')).toThrowError(expect.objectContaining({ exitCode: 2 }));
  });
});

describe('parseCount', () => {
  it('accepts whole numbers in range', () => expect(parseCount('25', '--limit')).toBe(25));
  it.each(['-1', '0', '1.5', 'ten', '', '1e3', '99999999999'])('rejects %j', (v) => {
    expect(() => parseCount(v, '--limit')).toThrowError(expect.objectContaining({ exitCode: 2, message: expect.stringContaining('--limit') }));
  });
});

describe('parseUserRef', () => {
  it('tells usernames, emails and ids apart', () => {
    expect(parseUserRef('JDoe')).toEqual({ kind: 'username', username: 'JDoe' });
    expect(parseUserRef('Jane@Agency.org')).toEqual({ kind: 'email', email: 'jane@agency.org' });
    expect(parseUserRef('#12')).toEqual({ kind: 'id', id: 12, digits: '12' });
  });
  it('keeps quotes, semicolons and unicode as plain text', () => {
    for (const v of ["o'brien", 'a;b', 'zoë', '"x"']) expect(parseUserRef(v)).toEqual({ kind: 'username', username: v });
  });
  it.each(['', '   ', '#', '#1a', '#-3', 'a\nb', 'a\u0000b', 'x'.repeat(255)])('rejects %j with exit 2', (v) => {
    expect(() => parseUserRef(v)).toThrowError(expect.objectContaining({ exitCode: 2 }));
  });
});

describe('quote', () => {
  it('escapes control characters so a message stays one line', () => {
    expect(quote('a\nb\u0007\u009b')).toBe('"a\\nb\\u0007\\u009b"');
    expect(quote('x\u2028y\u202ez\u200b')).toBe('"x\\u2028y\\u202ez\\u200b"');
    expect(quote('x'.repeat(200)).length).toBeLessThan(90);
  });
});
