/**
 * rowBatches: a listing's queries on one connection, rows handed on in the batches the socket delivers (a
 * server) or as the whole result (PGlite). The listing tests check what is shown; these check the parts a
 * listing only meets when things go wrong: a reader that stops early, a connection the server closed between
 * two pages, and a second query asked for while the first still arrives.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowBatches, type RawRow } from '../../src/store/sql/batches.js';
import { onServer, openTestDb, type TestDb } from '../helpers/db.js';

let db: TestDb;
beforeAll(async () => {
  db = await openTestDb();
});
afterAll(async () => db?.close());

const series = (from: number, to: number) => db.knex.queryBuilder().select(db.knex.raw('g as n, repeat(?, 40) as pad', ['x'])).from(db.knex.raw('generate_series(?::int, ?::int) g', [from, to]));

async function all(batches: AsyncIterable<RawRow[]>): Promise<{ rows: RawRow[]; count: number }> {
  const rows: RawRow[] = [];
  let count = 0;
  for await (const batch of batches) {
    expect(batch.length).toBeGreaterThan(0);
    count++;
    rows.push(...batch);
  }
  return { rows, count };
}

describe('rowBatches', () => {
  it('gives every row once, in order, as arrays or objects; two queries on one connection, the second asked for while the first arrives', async () => {
    const b = await rowBatches(db.knex);
    try {
      const first = b.start(series(1, 20_000), true);
      const second = b.start(series(20_001, 20_010), false);
      const a = await all(first);
      expect(a.rows.map((r) => r[0])).toEqual(Array.from({ length: 20_000 }, (_, i) => i + 1));
      // A server sends 20,000 rows in many reads, each handed on as it is parsed; PGlite answers whole.
      if (onServer) expect(a.count).toBeGreaterThan(3);
      else expect(a.count).toBe(1);
      expect((await all(second)).rows.map((r) => r.n)).toEqual(Array.from({ length: 10 }, (_, i) => 20_001 + i));
    } finally {
      await b.close();
    }
  });

  it('a reader that stops after the first batch leaves nothing running: the connection goes back and the next query works', async () => {
    const b = await rowBatches(db.knex);
    const stream = b.start(series(1, 50_000), true);
    const unread = b.start(series(1, 10), true); // asked for and never read (a read-ahead page when the output closed)
    for await (const batch of stream) {
      expect(batch.length).toBeGreaterThan(0);
      break;
    }
    await b.close();
    void unread;
    // The connection is back in the pool (PGlite's pool holds one: a query would wait for ever otherwise).
    expect(Number(((await db.knex('users').count({ n: '*' })) as Array<{ n: number | string }>)[0]!.n)).toBeGreaterThanOrEqual(0);
  });

  it("a query's error is thrown to the reader, and the connection is usable after it", async () => {
    const b = await rowBatches(db.knex);
    try {
      await expect(all(b.start(db.knex.queryBuilder().select(db.knex.raw('1 / (g - 3) as n')).from(db.knex.raw('generate_series(1, 5) g')), true))).rejects.toThrow(/division by zero/);
      expect((await all(b.start(series(1, 3), true))).rows).toHaveLength(3);
    } finally {
      await b.close();
    }
  });

  it.skipIf(!onServer)('a page asked for after the server closed the idle connection is sent again on a new one (a slow reader, an idle timeout)', async () => {
    const b = await rowBatches(db.knex);
    const pid = async () => ((await all(b.start(db.knex.queryBuilder().select(db.knex.raw('pg_backend_pid() as pid')), false))).rows as Array<{ pid: number }>)[0]!.pid;
    try {
      const first = await pid();
      await db.knex.raw('select pg_terminate_backend(?)', [first]);
      await new Promise((r) => setTimeout(r, 200)); // the server's goodbye reaches the client
      expect((await all(b.start(series(1, 3), true))).rows.map((r) => r[0])).toEqual([1, 2, 3]);
      expect(await pid()).not.toBe(first); // and the pages after it use the new connection
    } finally {
      await b.close();
    }
  });

  it.skipIf(!onServer)('a query the server stops after it sent rows is not sent again: the reader gets the error (its rows would repeat)', async () => {
    const b = await rowBatches(db.knex);
    try {
      // pg_terminate_backend of itself, once a row is out: the next rows never come.
      const q = db.knex.queryBuilder().select(db.knex.raw('g as n, case when g = 5000 then pg_terminate_backend(pg_backend_pid()) end as t')).from(db.knex.raw('generate_series(1, 10000) g'));
      const seen: unknown[] = [];
      await expect(
        (async () => {
          for await (const batch of b.start(q, true)) seen.push(...batch);
        })(),
      ).rejects.toThrow(/terminating connection due to administrator command|Connection terminated/);
      expect(seen.length).toBeGreaterThan(0);
      expect(seen.length).toBeLessThan(10_000);
    } finally {
      await b.close();
    }
  });
});
