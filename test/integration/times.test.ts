/**
 * Account times are selected as the database's text of their UTC wall time (utcTextSql) and made ISO strings
 * by moving characters (normaliseRows), the rare ones read as pg reads them; under a DateStyle other than ISO
 * they are selected again formatted by the database (isoSql, readTextTimes). Either way exactly what the tool
 * printed when it read them as Dates (iso() of the driver's value: pg-types on a server, PGlite's own parser
 * embedded). Both databases, in any session time zone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDb, onServer, type TestDb } from '../helpers/db.js';
import { iso } from '../../src/output/format.js';
import { isoSql, normaliseAccount, utcTextSql } from '../../src/store/sql/mapping.js';
import { normaliseRows, readTextTimes } from '../../src/store/sql/raw-times.js';

let db: TestDb;
beforeAll(async () => {
  db = await openTestDb();
});
afterAll(async () => db?.close());

const TIMES = [
  '2026-09-02 23:32:21.05814+00',
  '2026-09-02 23:32:21.0589+00',
  '2026-09-02 23:32:21.999999+00',
  '2026-09-02 23:32:21+00',
  '2027-03-26 00:00:00+00',
  '2026-03-29 01:30:00.5+02',
  '1969-12-31 23:59:59.999+00',
  '0100-01-01 00:00:00.001+00',
  '9999-12-31 23:59:59.999999+00',
  'infinity',
  '-infinity',
];
// postgres-date reads these as pg-types always did; PGlite's own parser (V8's Date) made 19xx of years before 100, an
// invalid Date of BC and of a local mean time offset with seconds (year 100 in St. John's is -03:52:52): the server only.
const SERVER_ONLY = [
  '0099-12-31 23:59:59.5+00',
  '0001-01-01 00:00:00+00',
  '0001-12-31 23:59:59.999999+00 BC',
  '0044-03-15 12:00:00.123456+00 BC',
  '4713-01-01 00:00:00+00 BC',
  '10000-01-01 00:00:00+00',
  '200000-06-30 12:00:00.5+00',
  '294276-12-31 23:59:59.999999+00',
];

async function compare(zone: string) {
  const values = onServer ? [...TIMES, ...SERVER_ONLY] : TIMES.filter((v) => zone === 'UTC' || !v.startsWith('0100'));
  await db.knex.transaction(async (trx) => {
    await trx.raw(`set local time zone '${zone}'`);
    for (const v of values) {
      const lit = `'${v}'::timestamptz`;
      const row = ((await trx.raw(`select ${isoSql(lit)} as printed, ${lit} as driver`)) as { rows: Array<{ printed: string; driver: unknown }> }).rows[0]!;
      const got = normaliseAccount((await readTextTimes([{ locked_at: row.printed }]))[0]!).locked_at;
      expect([v, zone, iso(got)]).toEqual([v, zone, iso(row.driver as Date)]);
      // What a listing prints is that string as it is, with no Date made for it.
      if (got !== null && got.endsWith('Z')) expect([v, got]).toEqual([v, iso(row.driver as Date)]);
      // The way accounts are read: UTC text, made ISO by moving characters (or read as above when rare).
      const fast = ((await trx.raw(`select ${utcTextSql(lit)} as locked_at`)) as { rows: Array<Record<string, unknown>> }).rows;
      const exact = async () => ((await trx.raw(`select ${isoSql(lit)} as locked_at`)) as { rows: unknown[] }).rows;
      const [read] = await normaliseRows(fast, normaliseAccount, exact);
      expect([v, zone, iso(read!.locked_at)]).toEqual([v, zone, iso(row.driver as Date)]);
      // The same string whenever a Date holds the time (past year 275760 each path keeps its own text, printed as null).
      if (got !== null && got.endsWith('Z')) expect([v, read!.locked_at]).toEqual([v, got]);
    }
  });
}

describe('account times', () => {
  it('print exactly as the Dates the driver reads (milliseconds truncated, infinity null)', async () => {
    await compare('UTC');
  });

  it('in another session time zone too', async () => {
    await compare('America/St_Johns');
    await compare('Asia/Kathmandu');
  });

  it('under a DateStyle other than ISO, the rows are read again with the database formatting the times', async () => {
    // The rare times (BC, year 10000 on) too, read as under ISO (the session's own text of them read as null, or day and month swapped).
    const rare = onServer ? SERVER_ONLY.filter((t) => / BC$|^\d{5}/.test(t)) : [];
    const values = [...TIMES.filter((t) => !t.includes('infinity') && !t.startsWith('0100')), ...rare];
    const expected = new Map<string, string | null>();
    for (const v of values) expected.set(v, iso(((await db.knex.raw(`select '${v}'::timestamptz as d`)) as { rows: Array<{ d: Date }> }).rows[0]!.d));
    await db.knex.transaction(async (trx) => {
      await trx.raw(`set local datestyle = 'SQL, DMY'`);
      for (const v of values) {
        const lit = `'${v}'::timestamptz`;
        const fast = ((await trx.raw(`select ${utcTextSql(lit)} as locked_at`)) as { rows: Array<Record<string, unknown>> }).rows;
        expect(String(fast[0]!.locked_at)).toMatch(/^\d\d\/\d\d\/\d{4,} /); // not the ISO layout
        let again = 0;
        const exact = async () => {
          again++;
          return ((await trx.raw(`select ${isoSql(lit)} as locked_at`)) as { rows: unknown[] }).rows;
        };
        const [read] = await normaliseRows(fast, normaliseAccount, exact);
        expect([v, iso(read!.locked_at), again]).toEqual([v, expected.get(v), 1]);
      }
    });
  });

  it('an absent time stays null', async () => {
    const row = ((await db.knex.raw(`select ${isoSql('null::timestamptz')} as printed`)) as { rows: Array<{ printed: string | null }> }).rows[0]!;
    expect(normaliseAccount({ locked_at: row.printed }).locked_at).toBeNull();
  });
});
