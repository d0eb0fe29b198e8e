/**
 * Listings page on (lock time, id) with the last row's time sent back to the server: whatever the session's
 * DateStyle and time zone, every locked account is listed once, in order (the cursor was the session's own
 * text of the time, whose zone abbreviation read back as another zone: IST is India's when written and
 * Israel's when read, so pages repeated rows; LMT BC could not be read back at all).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { onServer, openTestDb, type TestDb } from '../helpers/db.js';

let db: TestDb;
beforeAll(async () => {
  db = await openTestDb();
  const r = await cli(['demo', '--users', '1100'], { database: db, env: db.env });
  expect(r.code, r.stderr).toBe(0);
  // Every account locked, each at its own time (more than a page of 1,000); from id 501 on before Christ, so the
  // first page ends on such a time.
  await db.knex.raw(`update users set lock_reason = 'admin', locked_at = case when id > 500 then '0044-03-15 12:00:00+00 BC'::timestamptz - id * interval '1 second'
    else '2026-01-01 00:00:00+00'::timestamptz - id * interval '1 minute' + interval '0.000123 second' end`);
});
afterAll(async () => db?.close());

/** `locked --json` with the session set so; on a server each command is a new connection, so the settings go in the URL. */
async function lockedWith(settings: Record<string, string>) {
  if (onServer) {
    const url = new URL(db.env.HMIS_DATABASE_URL!);
    url.searchParams.set('options', Object.entries(settings).map(([k, v]) => `-c ${k}=${v.replace(/ /g, '\\ ')}`).join(' '));
    return cli(['locked', '--json'], { env: { ...db.env, HMIS_DATABASE_URL: url.toString() } });
  }
  // The embedded database is one connection, which the command is handed.
  for (const [k, v] of Object.entries(settings)) await db.knex.raw(`set ${k} = '${v}'`);
  try {
    return await cli(['locked', '--json'], { database: db, env: db.env });
  } finally {
    for (const k of Object.keys(settings)) await db.knex.raw(`reset ${k}`);
  }
}

describe('locked pages through every locked account once, in order', () => {
  it.each([
    { datestyle: 'ISO, MDY', timezone: 'UTC' },
    { datestyle: 'SQL, MDY', timezone: 'Asia/Kolkata' },
    { datestyle: 'German', timezone: 'Asia/Kathmandu' },
    { datestyle: 'Postgres, DMY', timezone: 'America/St_Johns' },
  ])('under %o', async (settings) => {
    const r = await lockedWith(settings);
    expect(r.code, r.stderr).toBe(0);
    const rows = r.json<Array<{ id: number; lockedAt: string | null }>>();
    const ids = rows.map((row) => row.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toHaveLength(1100);
    // Most recent first: ids 1..500 by minute, then the ones before Christ, by second.
    expect(ids).toEqual(Array.from({ length: 1100 }, (_, i) => i + 1));
    expect(rows[0]!.lockedAt).toBe('2025-12-31T23:59:00.000Z');
  });
});
