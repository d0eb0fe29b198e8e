/**
 * `locked --json` and `users list --json` print each account as the database wrote it (accountJsonSql): the same
 * characters JSON.stringify(accountJson(row)) writes for the row a listing reads, for names, addresses and times
 * that need escaping, trimming or a parser (infinity, BC, year 10000 on: those rows are read again as a listing
 * reads them). Both databases, both hosts, another DateStyle and time zone.
 */
import type { Knex } from 'knex';
import { describe, expect, it } from 'vitest';
import { escapeJsonText, toJson } from '../../src/output/json.js';
import { accountJson } from '../../src/services/accounts/accounts.js';
import { AccountJson, type AccountFilter, type AccountOrder, type AccountStore } from '../../src/store/types.js';
import { onServer, type TestDb } from '../helpers/db.js';
import { useHostDb } from '../helpers/host-suite.js';
import { ensureAgency, hostOfKnex, insertAccounts, storeOf, type AccountSeed } from '../helpers/hosts.js';

// What JSON.stringify escapes (quote, backslash, C0), what toJson escapes after it (DEL, C1, separators, bidi),
// what String#trim removes at the ends of a name (and U+0085, U+200B, which it keeps), astral characters. (A value that
// starts with U+FEFF is read without it by PGlite's driver, which decodes each value as a stream: the BOM ends one here.)
const STRINGS = [
  'plain', 'O"Brien', 'back\\slash', 'tab\there', 'two\nlines', '\x01\x1f', 'del\x7f', 'c1\x85\x9f', 'sep\u2028\u2029', 'bidi\u202e\u200e',
  '\u200bzero', 'bom\ufeff', '\u00a0nbsp\u3000', ' \t\n\r\v\f', '\u1680\u2000\u200a\u202f\u205f', '\u0085nel', 'emoji 😀', 'Ünïcödé', '',
];
const AT = [new Date('2026-09-02T23:32:21.058Z'), new Date('1969-12-31T23:59:59.999Z'), new Date('2027-03-26T00:00:00Z'), new Date('0100-01-01T00:00:00.001Z'), new Date('9999-12-31T23:59:59.999Z')];

function seeds(agencies: number[], devise: boolean): AccountSeed[] {
  return STRINGS.flatMap((s, i) =>
    [0, 1, 2, 3, 4, 5].map((j) => {
      const n = i * 6 + j;
      const t = STRINGS[(i * 7 + j * 3) % STRINGS.length]!;
      return {
        username: `u${n}${j === 0 ? s.replace(/\s/g, '') : ''}`,
        first_name: s,
        last_name: t,
        // A Devise host keeps '' for no address, once (its unique index on lower(email)).
        email: (devise ? n === 0 : n % 7 === 0) ? null : !devise && n % 7 === 1 ? '' : `p${n}@harbor.example.org`,
        email_verified_at: n % 3 === 0 ? null : AT[n % AT.length]!,
        phone: n % 4 === 0 ? null : `${t}555-01${n}`,
        agency_id: n % 5 === 0 ? null : agencies[n % agencies.length]!,
        locked_at: n % 2 === 0 ? AT[(n + 1) % AT.length]! : null,
        lock_reason: n % 2 === 0 ? (['failed_logins', 'admin', 'agreement_expired'] as const)[n % 3]! : null,
        failed_login_attempts: n % 4,
        account_expires_at: n % 6 === 5 ? null : new Date(AT[(n + 2) % 4]!.getTime() + n * 1_234_567),
        last_login_at: n % 5 === 4 ? null : AT[(n + 3) % AT.length]!,
      };
    }),
  );
}

/** Times no ISO string of toISOString's plain form holds, set on a few accounts with the host's own columns. */
async function rareTimes(knex: Knex, ids: number[]): Promise<void> {
  const [a, b, c, d, e] = ids;
  if (hostOfKnex(knex) === 'devise') {
    await knex.raw(`update public.users set confirmed_at = 'infinity' where id = ?`, [a]);
    await knex.raw(`update public.users set current_sign_in_at = '0044-03-15 12:00:00.123456 BC' where id = ?`, [b]);
    await knex.raw(`update public.users set current_sign_in_at = '12345-06-07 08:09:10.5' where id = ?`, [c]);
    await knex.raw(`update public.users set unconfirmed_email = 'pending"\u2028@harbor.example.org' where id in (?, ?)`, [d, e]);
    await knex.raw(`update public.users set locked_at = '-infinity' where id = ?`, [e]);
    return;
  }
  await knex.raw(`update users set email_verified_at = 'infinity' where id = ?`, [a]);
  await knex.raw(`update users set last_login_at = '0044-03-15 12:00:00.123456+00 BC' where id = ?`, [b]);
  await knex.raw(`update users set account_expires_at = '12345-06-07 08:09:10.5+00' where id = ?`, [c]);
  await knex.raw(`update users set locked_at = '-infinity', lock_reason = 'admin' where id = ?`, [d]);
  await knex.raw(`update users set account_expires_at = '0001-01-01 00:00:00+00', last_login_at = '9999-12-31 23:59:59.999999+00' where id = ?`, [e]);
}

/** The lines `--json` prints for a listing: as the database wrote them, and as the tool writes them from the listed rows. */
async function both(store: AccountStore, filter: AccountFilter, order: AccountOrder, limit = Infinity) {
  const fromDb: string[] = [];
  let written = 0;
  for await (const page of store.listJsonPages(filter, order, limit)) {
    for (const r of page) {
      if (r instanceof AccountJson) written++;
      fromDb.push(r instanceof AccountJson ? escapeJsonText(r.json) : toJson(accountJson(r)));
    }
  }
  const fromRows: string[] = [];
  for await (const page of store.listPages(filter, order, limit)) for (const r of page) fromRows.push(toJson(accountJson(r)));
  return { fromDb, fromRows, written };
}

describe.each(['native', 'devise'] as const)('the account JSON the database writes (%s host)', (host) => {
  let db: TestDb;
  let ids: number[] = [];
  useHostDb(
    host,
    async (opened) => {
      db = opened;
      const agencies = [await ensureAgency(db.knex, 'Harbor "Light"'), await ensureAgency(db.knex, 'Río\u202e Grande'), await ensureAgency(db.knex, 'Plain')];
      ids = await insertAccounts(db.knex, seeds(agencies, host === 'devise'));
      await rareTimes(db.knex, ids.slice(10, 15));
    },
    { reset: false },
  );

  it.each([
    ['every account by id', {}, 'id'],
    ['locked accounts by lock time', { locked: true }, 'locked'],
    ['accounts by expiry', { expiresAfter: new Date('1900-01-01T00:00:00Z'), expiresBefore: new Date('9000-01-01T00:00:00Z') }, 'expiry'],
  ] as const)('%s: the same lines as JSON.stringify(accountJson(row)), rare times read again in their place', async (_what, filter, order) => {
    const store = await storeOf(db.knex);
    const { fromDb, fromRows, written } = await both(store, filter, order);
    expect(fromDb.length).toBeGreaterThan(0);
    expect(fromDb).toEqual(fromRows);
    // Most rows were the database's own text; the rare ones were not.
    expect(written).toBeGreaterThan(fromDb.length - 6);
    expect(written).toBeLessThan(fromDb.length + (order === 'id' ? 0 : 1));
  });

  it('with a limit and across pages (more than the first page of 1,000)', async () => {
    const store = await storeOf(db.knex);
    const small = await both(store, {}, 'id', 3);
    expect(small.fromDb).toEqual(small.fromRows);
    expect(small.fromDb).toHaveLength(3);
    const more = await insertAccounts(db.knex, Array.from({ length: 1_100 }, (_, i) => ({ username: `bulk${i}`, first_name: STRINGS[i % STRINGS.length]!, last_name: 'X', email: `b${i}@harbor.example.org`, locked_at: AT[i % AT.length]!, lock_reason: 'admin' })));
    try {
      const big = await both(store, { locked: true }, 'locked');
      expect(big.fromDb).toEqual(big.fromRows);
      expect(big.fromDb.length).toBeGreaterThan(1_100);
    } finally {
      if (host === 'devise') await db.knex('hmis_admin.account_state').whereIn('user_id', more).delete();
      await db.knex(host === 'devise' ? 'public.users' : 'users').whereIn('id', more).delete();
    }
  });

  it('runs no function or operator another role put on the search path (they match closer than the built-in ones)', async () => {
    // What a role allowed to create in public could plant: each would be picked over pg_catalog's polymorphic one.
    const schema = 'public';
    const planted = [
      `create function ${schema}.to_json(text) returns json language sql as $$ select '"HIJACKED"'::json $$`,
      `create function ${schema}.hijack_cat(text, bigint) returns text language sql as $$ select 'HIJACKED' $$`,
      `create operator ${schema}.|| (leftarg = text, rightarg = bigint, function = ${schema}.hijack_cat)`,
      `create function ${schema}.concat(text, text, text) returns text language sql as $$ select 'HIJACKED' $$`,
      `create function ${schema}.hijack_mul(integer, interval) returns interval language sql as $$ select interval '1000 years' $$`,
      `create operator ${schema}.* (leftarg = integer, rightarg = interval, function = ${schema}.hijack_mul)`,
    ];
    for (const q of planted) await db.knex.raw(q);
    try {
      const store = await storeOf(db.knex);
      for (const [filter, order] of [[{}, 'id'], [{ locked: true }, 'locked']] as const) {
        const { fromDb, fromRows } = await both(store, filter, order);
        expect(fromDb.join('\n')).not.toContain('HIJACKED');
        expect(fromDb).toEqual(fromRows);
      }
    } finally {
      for (const q of [
        `drop operator if exists ${schema}.* (integer, interval)`, `drop function if exists ${schema}.hijack_mul(integer, interval)`,
        `drop operator if exists ${schema}.|| (text, bigint)`, `drop function if exists ${schema}.hijack_cat(text, bigint)`,
        `drop function if exists ${schema}.to_json(text)`, `drop function if exists ${schema}.concat(text, text, text)`,
      ]) await db.knex.raw(q);
    }
  });

  it('under another DateStyle and time zone', async () => {
    const settings = { datestyle: 'SQL, DMY', timezone: 'Asia/Kathmandu' };
    let knex = db.knex;
    if (onServer) {
      const { default: knexFactory } = await import('knex');
      const url = new URL(db.env.HMIS_DATABASE_URL!);
      url.searchParams.set('options', Object.entries(settings).map(([k, v]) => `-c ${k}=${v.replace(/ /g, '\\ ')}`).join(' '));
      knex = knexFactory({ ...db.knex.client.config, connection: url.toString() });
      const { registerHost } = await import('../helpers/hosts.js');
      registerHost(knex, host);
    } else for (const [k, v] of Object.entries(settings)) await knex.raw(`set ${k} = '${v}'`);
    try {
      const store = await storeOf(knex);
      for (const [filter, order] of [[{}, 'id'], [{ locked: true }, 'locked']] as const) {
        const { fromDb, fromRows } = await both(store, filter, order);
        expect(fromDb).toEqual(fromRows);
      }
    } finally {
      if (onServer) await knex.destroy();
      else for (const k of Object.keys(settings)) await knex.raw(`reset ${k}`);
    }
  });
});

describe.runIf(onServer)('a database not in UTF8', () => {
  it('is listed as a listing reads it (the trim set is Unicode), the same lines', async () => {
    const { default: knexFactory } = await import('knex');
    const { migrateLatest } = await import('../../src/db/migrate.js');
    const admin = knexFactory({ client: 'pg', connection: process.env.HMIS_TEST_DATABASE_URL });
    const name = `hmis_latin_${process.pid}`;
    await admin.raw(`create database ${name} encoding 'LATIN1' lc_collate 'C' lc_ctype 'C' template template0`);
    const url = new URL(process.env.HMIS_TEST_DATABASE_URL!);
    url.pathname = `/${name}`;
    const knex = knexFactory({ client: 'pg', connection: url.toString() });
    try {
      await migrateLatest(knex);
      await insertAccounts(knex, [{ username: 'jose', first_name: '\u00a0José', last_name: 'Ñ"', email: 'jose@harbor.example.org', locked_at: AT[0]!, lock_reason: 'admin' }]);
      const { fromDb, fromRows, written } = await both(await storeOf(knex), {}, 'id');
      expect(fromDb).toEqual(fromRows);
      expect(fromDb[0]).toContain('"name":"José Ñ\\""');
      expect(written).toBe(0);
    } finally {
      await knex.destroy();
      await admin.raw(`drop database ${name}`);
      await admin.destroy();
    }
  });
});
