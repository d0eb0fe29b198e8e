import fc from 'fast-check';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { fastTimeTypes, isoFromText, timestamptzMs } from '../../src/db/pg-time.js';

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

describe('the fast timestamptz reader', () => {
  it('read what PostgreSQL writes under DateStyle ISO as postgres-date does, to the millisecond (its float arithmetic too)', () => {
    const text = fc
      .record({
        y: fc.integer({ min: 100, max: 9999 }),
        mo: fc.integer({ min: 1, max: 12 }),
        d: fc.integer({ min: 1, max: 28 }),
        h: fc.integer({ min: 0, max: 23 }),
        mi: fc.integer({ min: 0, max: 59 }),
        s: fc.integer({ min: 0, max: 59 }),
        frac: fc.option(fc.stringMatching(/^[0-9]{1,6}$/)),
        zone: fc.oneof(
          fc.constant('+00'),
          fc.tuple(fc.constantFrom('+', '-'), fc.integer({ min: 0, max: 15 }), fc.option(fc.integer({ min: 0, max: 59 })), fc.option(fc.integer({ min: 0, max: 59 }))).map(
            ([sign, h, m, s]) => `${sign}${pad(h, 2)}${m === null ? '' : `:${pad(m, 2)}${s === null ? '' : `:${pad(s, 2)}`}`}`,
          ),
        ),
      })
      .map((t) => `${pad(t.y, 4)}-${pad(t.mo, 2)}-${pad(t.d, 2)} ${pad(t.h, 2)}:${pad(t.mi, 2)}:${pad(t.s, 2)}${t.frac === null ? '' : `.${t.frac}`}${t.zone}`);
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
