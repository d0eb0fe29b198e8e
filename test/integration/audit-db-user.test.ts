/** audit_log.db_user: the database records which account wrote each entry, whatever --actor claims. */
import type { Knex } from 'knex';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/connection.js';
import { migrationConfig } from '../../src/db/migrate.js';
import { cli } from '../helpers/cli.js';
import { onServer, openTestDb, type TestDb } from '../helpers/db.js';
import { seedUser } from '../helpers/lockout-seed.js';

let db: TestDb;
// Roles are cluster-wide on a server: a short name of our own (it fits the table's DB USER column).
const ROLE = `clk${Math.random().toString(36).slice(2, 6)}`;

beforeAll(async () => {
  db = await openTestDb();
  await db.knex.raw(`create role ${ROLE}`);
  await db.knex.raw(`grant select, insert, update, delete on all tables in schema public to ${ROLE}`);
  await db.knex.raw(`grant usage on all sequences in schema public to ${ROLE}`);
});
afterAll(async () => {
  if (!db) return;
  await db.knex.raw(`drop owned by ${ROLE}`);
  await db.knex.raw(`drop role ${ROLE}`);
  await db.close();
});
beforeEach(async () => db.reset());

const sessionUser = async (k: Knex) => ((await k.raw('select session_user as u')).rows[0] as { u: string }).u;

/** Run `fn` with the tool connected as ROLE: its own pool on a server, the one PGlite session otherwise. */
async function asRole<T>(fn: (database: Database) => Promise<T>): Promise<T> {
  if (onServer) {
    const { default: knexFactory } = await import('knex');
    const knex = knexFactory({
      client: 'pg',
      connection: db.env.HMIS_DATABASE_URL,
      pool: { min: 0, max: 2, afterCreate: (conn: { query: (q: string, cb: (e: Error | null) => void) => void }, done: (e: Error | null, c: unknown) => void) => conn.query(`set session authorization ${ROLE}`, (e) => done(e, conn)) },
    });
    try {
      return await fn({ knex, kind: 'postgres', where: db.where, close: async () => {} });
    } finally {
      await knex.destroy();
    }
  }
  await db.knex.raw(`set session authorization ${ROLE}`);
  try {
    return await fn(db);
  } finally {
    await db.knex.raw('set session authorization postgres');
  }
}

describe('audit_log.db_user', () => {
  it('a forged --actor still shows the real database user (JSON dbUser and the table)', async () => {
    await seedUser(db.knex, { username: 'leaver' });
    const r = await asRole((database) => cli(['lock', 'leaver', '--reason', 'left', '--actor', 'postgres', '--json'], { database }));
    expect(r.code, r.stderr).toBe(0);
    const [entry] = (await cli(['audit', '--json'], { database: db })).json<Array<Record<string, unknown>>>();
    expect(entry).toMatchObject({ actor: 'postgres', dbUser: ROLE, action: 'lock', user: 'leaver' });
    expect(Object.keys(entry!).slice(0, 4)).toEqual(['id', 'at', 'actor', 'dbUser']);
    const table = await cli(['audit'], { database: db });
    expect(table.stdout.split('\n')[0]).toMatch(/^AT \(UTC\)\s+ACTOR\s+DB USER\s+ACTION/);
    expect(table.stdout).toMatch(new RegExp(`postgres\\s+${ROLE}\\s+lock`));
    const show = await cli(['users', 'show', 'leaver'], { database: db });
    expect(show.stdout).toContain(`by postgres (database user ${ROLE})`);
  });

  it('is set by the database: an INSERT naming another account is overridden', async () => {
    await db.knex('audit_log').insert({ actor: 'x', action: 'test.forged', db_user: 'someone_else', details: '{}' });
    const row = await db.knex('audit_log').where('action', 'test.forged').first('db_user');
    expect(row.db_user).toBe(await sessionUser(db.knex));
    expect(row.db_user).not.toBe('someone_else');
  });

  it('entries older than the column stay null (unknown), not the account that migrated', async () => {
    const name = '20261128000002_audit_db_user';
    await db.knex.migrate.down({ ...migrationConfig(), name });
    try {
      await db.knex('audit_log').insert({ actor: 'old', action: 'test.before', details: '{}' });
    } finally {
      await db.knex.migrate.up({ ...migrationConfig(), name });
    }
    expect((await db.knex('audit_log').where('action', 'test.before').first('db_user')).db_user).toBeNull();
    const table = await cli(['audit'], { database: db });
    expect(table.stdout).toMatch(/old\s+-\s+test\.before/);
  });
});
