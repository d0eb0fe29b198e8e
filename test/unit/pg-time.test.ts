import fc from 'fast-check';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { fastTimeTypes, isoFromText, timestamptzMs } from '../../src/db/pg-time.js';
import { isoFromUtcText, normaliseListed, utcTextAsZoned } from '../../src/store/sql/mapping.js';
import { LISTED_FIELDS } from '../../src/store/types.js';

// pg's own timestamptz parser (postgres-date): the fast readers must give the very same instant, or hand the text to it.
const slow = pg.types.getTypeParser(1184, 'text') as (s: string) => Date | number | null;
const asDate = fastTimeTypes.getTypeParser(1184, 'text') as (s: string) => Date | number | null;
const same = (s: string) => {
  const a = asDate(s);
  const b = slow(s);
  if (a instanceof Date && b instanceof Date) expect([s, a.getTime()]).toEqual([s, b.getTime()]);
  else expect([s, a]).toEqual([s, b]);
  // The account reader's reading of a time the database left as text: iso() of postgres-date's value, or the text.
  const printed = b instanceof Date && !Number.isNaN(b.getTime()) ? b.toISOString() : null;
  expect([s, isoFromText(s)]).toEqual([s, printed ?? s]);
};
const pad = (n: number, w: number) => String(n).padStart(w, '0');
/** A date and time of day from year `minYear` on, with 0–6 fraction digits; `wall` writes it as PostgreSQL's ISO text without a zone. */
const dateParts = (minYear: number) =>
  fc.record({
    y: fc.integer({ min: minYear, max: 9999 }),
    mo: fc.integer({ min: 1, max: 12 }),
    d: fc.integer({ min: 1, max: 28 }),
    h: fc.integer({ min: 0, max: 23 }),
    mi: fc.integer({ min: 0, max: 59 }),
    s: fc.integer({ min: 0, max: 59 }),
    frac: fc.option(fc.stringMatching(/^[0-9]{1,6}$/)),
  });
type DateParts = { y: number; mo: number; d: number; h: number; mi: number; s: number; frac: string | null };
const wall = (t: DateParts) => `${pad(t.y, 4)}-${pad(t.mo, 2)}-${pad(t.d, 2)} ${pad(t.h, 2)}:${pad(t.mi, 2)}:${pad(t.s, 2)}${t.frac === null ? '' : `.${t.frac}`}`;

describe('the fast timestamptz reader', () => {
  it('read what PostgreSQL writes under DateStyle ISO as postgres-date does, to the millisecond (its float arithmetic too)', () => {
    const zone = fc.oneof(
      fc.constant('+00'),
      fc.tuple(fc.constantFrom('+', '-'), fc.integer({ min: 0, max: 15 }), fc.option(fc.integer({ min: 0, max: 59 })), fc.option(fc.integer({ min: 0, max: 59 }))).map(
        ([sign, h, m, s]) => `${sign}${pad(h, 2)}${m === null ? '' : `:${pad(m, 2)}${s === null ? '' : `:${pad(s, 2)}`}`}`,
      ),
    );
    const text = fc.tuple(dateParts(100), zone).map(([t, z]) => `${wall(t)}${z}`);
    fc.assert(
      fc.property(text, (s) => {
        expect(timestamptzMs(s)).toBeTypeOf('number');
        same(s);
      }),
      { numRuns: 5000 },
    );
  });

  it('take the first three digits of every fraction PostgreSQL can write, as postgres-date\'s 1000 * parseFloat does', () => {
    for (let n = 0; n < 1_000_000; n++) {
      const frac = pad(n, 6).replace(/0+$/, '');
      const s = `2026-09-02 23:32:21${frac ? `.${frac}` : ''}+00`;
      const want = Math.trunc(1000 * parseFloat(`.${frac || '0'}`));
      if (timestamptzMs(s)! % 1000 !== want) expect([s, timestamptzMs(s)! % 1000]).toEqual([s, want]);
    }
  });

  it('hand everything else to postgres-date: infinity, BC, years before 100 or after 9999, other layouts', () => {
    for (const s of [
      'infinity',
      '-infinity',
      '0044-03-15 12:00:00+00 BC',
      '0044-03-15 12:00:00.5+00:53:28 BC',
      '0099-12-31 23:59:59.999999+00',
      '0001-01-01 00:00:00+00',
      '10000-01-01 00:00:00+00',
      '2026-09-02T23:32:21Z',
      '2026-09-02 23:32:21',
      '2026-09-02 23:32:21.+00',
      '2026-09-02 23:32:21.9999999999999999+00',
      '2026-09-02 23:32:21+0',
      '2026-09-02 23:32:21+00:3',
      '2026-09-02 23:32:21+00:30:1',
      '2026-09-02 23:32:21+00:30:10x',
      'Wed Sep 02 23:32:21.05814 2026 UTC',
    ]) {
      same(s);
    }
    expect(timestamptzMs('infinity')).toBeUndefined();
    expect(timestamptzMs('0044-03-15 12:00:00+00 BC')).toBeUndefined();
    expect(timestamptzMs('0099-12-31 23:59:59+00')).toBeUndefined();
    expect(timestamptzMs('2026-09-02 23:32:21.1234567+00')).toBeUndefined();
  });

  it('leave every other type to pg', () => {
    for (const oid of [16, 20, 23, 25, 1082, 1114, 1185, 3802]) expect(fastTimeTypes.getTypeParser(oid, 'text')).toBe(pg.types.getTypeParser(oid, 'text'));
    expect(fastTimeTypes.getTypeParser(1184, 'binary')).toBe(pg.types.getTypeParser(1184, 'binary'));
  });
});

describe('an account time read from its UTC text (isoFromUtcText)', () => {
  // What toISOString writes for the instant, milliseconds truncated (as postgres-date and to_char's MS do).
  const expected = (y: number, mo: number, d: number, h: number, mi: number, s: number, frac: string | null) => {
    const date = new Date(Date.UTC(2000, mo - 1, d, h, mi, s, Number(`${frac ?? ''}000`.slice(0, 3))));
    date.setUTCFullYear(y);
    return date.toISOString();
  };

  it('is the ISO string of the same instant for every year 1–9999 and fraction of 0–6 digits', () => {
    fc.assert(
      fc.property(dateParts(1), (t) => {
        const text = wall(t);
        expect([text, isoFromUtcText(text)]).toEqual([text, expected(t.y, t.mo, t.d, t.h, t.mi, t.s, t.frac)]);
      }),
      { numRuns: 5000 },
    );
  });

  it('sends the rare times to pg\'s parser and refuses any other layout (a DateStyle other than ISO)', () => {
    for (const s of ['infinity', '-infinity', '0044-03-15 12:00:00 BC', '0001-12-31 23:59:59.999999 BC', '10000-01-01 00:00:00', '294276-12-31 23:59:59.999999']) {
      expect([s, isoFromUtcText(s)]).toEqual([s, 'slow']);
    }
    for (const s of ['02/09/2026 23:32:21.05814', '09/02/2026 23:32:21', 'Wed Sep 02 23:32:21.05814 2026', '02.09.2026 23:32:21', '2026-09-02T23:32:21', '2026-09-02 23:32:21.', '2026-09-02 23:32:21.1234567', '2026-09-02 23:32:2x', '2026-9-02 23:32:21', '']) {
      expect([s, isoFromUtcText(s)]).toEqual([s, undefined]);
    }
    expect(utcTextAsZoned('0044-03-15 12:00:00.5 BC')).toBe('0044-03-15 12:00:00.5+00 BC');
    expect(utcTextAsZoned('10000-01-01 00:00:00')).toBe('10000-01-01 00:00:00+00');
    expect(isoFromText(utcTextAsZoned('10000-01-01 00:00:00'))).toBe('+010000-01-01T00:00:00.000Z');
  });
});

describe('a listing row read by position (rowMode array)', () => {
  it('normaliseListed reads LISTED_FIELDS in their order', () => {
    const row: Record<string, unknown> = {
      id: '7', username: 'ana', first_name: 'Ana', last_name: null, email: 'ana@example.org', email_verified_at: '2026-01-02 03:04:05.678901',
      pending_email: 'new@example.org', phone: '555', agency: 'Hope', locked_at: '2026-11-20 10:00:00', lock_reason: 'admin',
      failed_login_attempts: '3', account_expires_at: null, last_login_at: '0099-12-31 23:59:59.5',
    };
    expect(normaliseListed(LISTED_FIELDS.map((k) => row[k]), true)).toEqual({
      id: 7, username: 'ana', first_name: 'Ana', last_name: '', email: 'ana@example.org', email_verified_at: '2026-01-02T03:04:05.678Z',
      pending_email: 'new@example.org', phone: '555', agency: 'Hope', locked_at: '2026-11-20T10:00:00.000Z', lock_reason: 'admin',
      failed_login_attempts: 3, account_expires_at: null, last_login_at: '0099-12-31T23:59:59.500Z',
    });
    expect(Object.keys(normaliseListed(LISTED_FIELDS.map(() => null)))).toEqual([...LISTED_FIELDS]);
  });
});
