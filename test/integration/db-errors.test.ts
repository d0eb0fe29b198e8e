/**
 * An unexpected database error is one line with the server's message and SQLSTATE, never the SQL knex
 * puts before it; a statement_timeout says so. Query parameters of --db are a documented list.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseMessage } from '../../src/errors.js';
import { cli, spawnCli } from '../helpers/cli.js';
import { onServer, openTestDb, type TestDb } from '../helpers/db.js';

let db: TestDb;
beforeAll(async () => {
  db = await openTestDb();
});
afterAll(async () => db?.close());

describe('database errors', () => {
  it('a real query error becomes the server message and SQLSTATE, without the statement', async () => {
    const err = await db.knex('no_such_table').where('secret_column', 'value-of-a-binding').select('*').catch((e: unknown) => e);
    expect(String((err as Error).message)).toMatch(/select/); // what knex hands over
    const line = databaseMessage(err)!;
    expect(line).toBe('the database said: relation "no_such_table" does not exist (SQLSTATE 42P01)');
    expect(databaseMessage(new Error('select 1 - boom'))).toBeNull();
  });

  it.skipIf(!onServer)('a query cancelled by statement_timeout: one clear line, exit 1, no SQL', async () => {
    const url = new URL(db.env.HMIS_DATABASE_URL!);
    url.searchParams.set('options', '-c statement_timeout=300');
    // The listing waits for this lock until the server cancels it: cancelled for certain, not only when a query happens to take 1 ms.
    const trx = await db.knex.transaction();
    let r;
    try {
      await trx.raw('lock table users in access exclusive mode');
      r = await cli(['--db', url.toString(), 'locked'], {});
    } finally {
      await trx.rollback();
    }
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/^hmis-admin: [^\n]*\n$/);
    expect(r.stderr).toMatch(/statement_timeout \(SQLSTATE 57014\)/);
    expect(r.stderr).not.toMatch(/\bselect\b|where /i);
  });

  it('--db refuses query parameters outside the documented list (exit 2, naming it)', async () => {
    for (const q of ['x=1', 'password=secret', 'user=postgres']) {
      const r = await cli(['--db', `postgres://127.0.0.1:5432/hmis?${q}`, 'locked'], {});
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`unknown parameter ${q.split('=')[0]}=`));
    }
  });

  it('connect_timeout in --db is honoured (libpq seconds, 1 counts as 2) and the message says how long it waited', async () => {
    // A server that accepts the connection and never answers: the startup message goes unanswered.
    const sockets: Socket[] = [];
    const silent: Server = createServer((s) => void sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as { port: number }).port;
    try {
      for (const [q, s] of [['connect_timeout=1', 2]] as const) {
        const started = Date.now();
        const r = await cli(['--db', `postgres://postgres@127.0.0.1:${port}/x?${q}`, 'locked'], {});
        const took = Date.now() - started;
        expect(r.code, r.stderr).toBe(1);
        expect(r.stderr).toBe(`hmis-admin: no answer from the database at 127.0.0.1:${port}/x within ${s} s; check that PostgreSQL runs there, or wait longer with connect_timeout=<seconds> in --db / HMIS_DATABASE_URL\n`);
        expect(took).toBeGreaterThanOrEqual(s * 1000 - 100);
        expect(took).toBeLessThan(s * 1000 + 4000);
      }
    } finally {
      sockets.forEach((s) => s.destroy());
      silent.close();
    }
  }, 20_000);

  it('messages name the port and database pg really uses when PGPORT/PGDATABASE fill in what the URL leaves out', async () => {
    const r = await spawnCli(['--db', 'postgres://postgres@127.0.0.1/hmis_nowhere', 'db', 'status'], { PGPORT: '1' });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/^hmis-admin: cannot reach the database at 127\.0\.0\.1:1\/hmis_nowhere \(ECONNREFUSED\)/);
  });

  it.skipIf(!onServer)('a schema check the server refuses (permission denied) is that error, exit 1, not "run db migrate"', async () => {
    const role = `hmis_noperm_${process.pid}`;
    await db.knex.raw(`create role ${role} login`);
    try {
      const url = new URL(db.env.HMIS_DATABASE_URL!);
      url.username = role;
      const r = await cli(['--db', url.toString(), 'locked'], {});
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/^hmis-admin: unexpected error: the database said: permission denied for table knex_migrations \(SQLSTATE 42501\)/);
      expect(r.stderr).not.toMatch(/db migrate/);
    } finally {
      await db.knex.raw(`drop role ${role}`);
    }
  });
});
