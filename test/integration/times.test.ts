/**
 * Account times are formatted by the database (isoSql) and printed as they come, the rare ones it leaves as
 * text read as pg reads them (readTextTimes): exactly what the tool printed when it read them as Dates (iso()
 * of the driver's value: pg-types on a server, PGlite's own parser embedded). Both databases, in any session
 * time zone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDb, onServer, type TestDb } from '../helpers/db.js';
import { iso } from '../../src/output/format.js';
import { isoSql, normaliseAccount } from '../../src/store/sql/mapping.js';
import { readTextTimes } from '../../src/store/sql/reader.js';

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

  it('an absent time stays null', async () => {
    const row = ((await db.knex.raw(`select ${isoSql('null::timestamptz')} as printed`)) as { rows: Array<{ printed: string | null }> }).rows[0]!;
    expect(normaliseAccount({ locked_at: row.printed }).locked_at).toBeNull();
  });
});
