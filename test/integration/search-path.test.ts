/**
 * A role that may create objects in a schema on the search path (public on PostgreSQL 14 and older; the Rails
 * application's own role in devise mode) can plant a function or operator that matches a call more closely than
 * pg_catalog's — public.btrim(varchar) over btrim(text), public.to_json(text) over to_json(anyelement) — and it would
 * run with the administrator's rights (CVE-2018-1058). Planted here, each records that it ran; the commands that
 * read and change accounts run none of them. (Not covered: knex's own hasTable, which `db migrate` and `db status`
 * send in native mode: a native database's schema must not be writable by others.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, spawnCli } from '../helpers/cli.js';
import { onServer, type TestDb } from '../helpers/db.js';
import { useHostDb } from '../helpers/host-suite.js';
import { insertAccounts } from '../helpers/hosts.js';

const HIT = 'insert into public.planted_hits values (1)';
const PLANTED = [
  'create table public.planted_hits (n int)',
  `create function public.btrim(varchar) returns text language sql as $$ ${HIT}; select pg_catalog.btrim($1::text) $$`,
  `create function public.lower(varchar) returns text language sql as $$ ${HIT}; select pg_catalog.lower($1::text) $$`,
  `create function public.planted_eq(varchar, varchar) returns boolean language sql as $$ ${HIT}; select $1::text = $2::text $$`,
  'create operator public.= (leftarg = varchar, rightarg = varchar, function = public.planted_eq)',
  `create function public.planted_ilike(varchar, varchar) returns boolean language sql as $$ ${HIT}; select $1::text ~~* $2::text $$`,
  'create operator public.~~* (leftarg = varchar, rightarg = varchar, function = public.planted_ilike)',
  `create function public.planted_cat(varchar, varchar) returns text language sql as $$ ${HIT}; select $1::text || $2::text $$`,
  'create operator public.|| (leftarg = varchar, rightarg = varchar, function = public.planted_cat)',
  `create function public.planted_ideq(information_schema.sql_identifier, information_schema.sql_identifier) returns boolean language sql as $$ ${HIT}; select $1::text = $2::text $$`,
  'create operator public.= (leftarg = information_schema.sql_identifier, rightarg = information_schema.sql_identifier, function = public.planted_ideq)',
  `create function public.planted_idname(information_schema.sql_identifier, name) returns boolean language sql as $$ ${HIT}; select $1::text = $2::text $$`,
  'create operator public.= (leftarg = information_schema.sql_identifier, rightarg = name, function = public.planted_idname)',
  `create function public.pg_advisory_xact_lock(integer) returns void language sql as $$ ${HIT}; select pg_catalog.pg_advisory_xact_lock($1::int8) $$`,
  `create function public.to_json(text) returns json language sql as $$ ${HIT}; select pg_catalog.to_json($1) $$`,
  `create function public.obj_description(oid, text) returns text language sql as $$ ${HIT}; select pg_catalog.obj_description($1, $2::name) $$`,
  `create function public.quote_ident(name) returns text language sql as $$ ${HIT}; select pg_catalog.quote_ident($1::text) $$`,
  `create function public.planted_count(state bigint, v anyelement) returns bigint language sql as $$ ${HIT}; select $1 + 1 $$`,
  `create function public.planted_oid_reg(oid, regclass) returns boolean language sql as $$ ${HIT}; select $1 = $2::oid $$`,
  'create operator public.= (leftarg = oid, rightarg = regclass, function = public.planted_oid_reg)',
  `create function public.planted_oid_int(oid, integer) returns boolean language sql as $$ ${HIT}; select $1 = $2::oid $$`,
  'create operator public.= (leftarg = oid, rightarg = integer, function = public.planted_oid_int)',
  "create aggregate public.count(integer) (sfunc = public.planted_count, stype = bigint, initcond = '0')",
  "create aggregate public.count(bigint) (sfunc = public.planted_count, stype = bigint, initcond = '0')",
];
const REMOVED = [
  'drop aggregate if exists public.count(integer)', 'drop aggregate if exists public.count(bigint)', 'drop function if exists public.planted_count(bigint, anyelement)',
  'drop operator if exists public.= (varchar, varchar)', 'drop operator if exists public.~~* (varchar, varchar)', 'drop operator if exists public.|| (varchar, varchar)',
  'drop operator if exists public.= (information_schema.sql_identifier, information_schema.sql_identifier)', 'drop operator if exists public.= (information_schema.sql_identifier, name)',
  'drop function if exists public.planted_eq(varchar, varchar)', 'drop function if exists public.planted_ilike(varchar, varchar)', 'drop function if exists public.planted_cat(varchar, varchar)',
  'drop function if exists public.planted_ideq(information_schema.sql_identifier, information_schema.sql_identifier)', 'drop function if exists public.planted_idname(information_schema.sql_identifier, name)',
  'drop operator if exists public.= (oid, regclass)', 'drop function if exists public.planted_oid_reg(oid, regclass)',
  'drop operator if exists public.= (oid, integer)', 'drop function if exists public.planted_oid_int(oid, integer)',
  'drop function if exists public.btrim(varchar)', 'drop function if exists public.lower(varchar)', 'drop function if exists public.pg_advisory_xact_lock(integer)',
  'drop function if exists public.to_json(text)', 'drop function if exists public.obj_description(oid, text)', 'drop function if exists public.quote_ident(name)',
  'drop table if exists public.planted_hits',
];

describe.each(['native', 'devise'] as const)('functions and operators planted on the search path (%s host)', (host) => {
  let db: TestDb;
  useHostDb(host, (opened) => void (db = opened), { reset: false });
  beforeAll(async () => {
    for (const q of PLANTED) await db.knex.raw(q);
  });
  afterAll(async () => {
    for (const q of REMOVED) await db.knex.raw(q);
  });

  const hits = async () => Number(((await db.knex.raw('select count(*) as n from public.planted_hits')) as { rows: Array<{ n: string | number }> }).rows[0]!.n);
  // On a server the built command runs as cron would (its own connection and search path); embedded, in-process on the test's database.
  const run = (...args: string[]) => (onServer ? spawnCli(args, db.env) : cli(args, { database: db, env: db.env }));

  it('are never what the commands run', async () => {
    if (host === 'native') {
      const demo = await run('demo', '--users', '60');
      expect(demo.code, demo.stderr).toBe(0);
    } else {
      await insertAccounts(db.knex, Array.from({ length: 30 }, (_, i) => ({ username: `user${i}`, first_name: 'Ana', last_name: `Li ${i}`, email: `user${i}@harbor.example.org`, locked_at: i % 3 ? null : new Date(), lock_reason: i % 3 ? null : 'failed_logins' })));
    }
    const login = host === 'native' ? 'jdoe' : 'user3';
    for (const args of [
      ['locked', '--json'],
      ['users', 'list', '--search', 'li', '--json'],
      ['users', 'show', login, '--json'],
      ['email', 'check', '--json'],
      ['email', 'set', login, `${login}.new@harbor.example.org`, '--verified', '--json'],
      ['diagnose', login, '--json'],
      ['reset', 'list', login, '--json'],
      ['unlock', login, '--json'],
    ]) {
      const r = await run(...args);
      // 0, or 5: diagnose found problems (the demo's jdoe is locked).
      expect([args.join(' '), r.code === 0 || r.code === 5 ? 'ran' : `${r.code} ${r.stderr}`]).toEqual([args.join(' '), 'ran']);
      expect([args.join(' '), await hits()]).toEqual([args.join(' '), 0]);
    }
  });
});

// The tool's schema is the whole search path in devise mode: one made or owned by another role is refused (exit 2)
// before anything runs in it. Spawned: the check is part of opening the database, which a handed-in database skips.
describe.runIf(onServer)("devise mode: the tool's schema is someone else's", () => {
  let db: TestDb;
  useHostDb('devise', (opened) => void (db = opened), { reset: false });
  const run = (...args: string[]) => spawnCli(args, db.env);

  it('owned by another role, or open to others for CREATE: refused before anything runs, with the fix', async () => {
    await db.knex.raw('drop role if exists planted_owner');
    await db.knex.raw('create role planted_owner');
    try {
      await db.knex.raw('alter schema hmis_admin owner to planted_owner');
      for (const args of [['locked'], ['db', 'migrate'], ['db', 'status']]) {
        const r = await run(...args);
        expect([args.join(' '), r.code]).toEqual([args.join(' '), 2]);
        expect(r.stderr).toContain('the schema hmis_admin belongs to planted_owner, not to the role this run connects as');
        expect(r.stderr.trim().split('\n')).toHaveLength(1);
      }
      // A superuser's (a DBA migrated as postgres, the tool runs as its own role): no added risk, accepted.
      await db.knex.raw('alter role planted_owner superuser');
      const dba = await run('locked');
      expect(dba.code, dba.stderr).toBe(0);
      await db.knex.raw('alter schema hmis_admin owner to current_user');
      await db.knex.raw('grant create on schema hmis_admin to public');
      const open = await run('locked');
      expect(open.code).toBe(2);
      expect(open.stderr).toContain('lets PUBLIC create objects in it');
      expect(open.stderr).toContain('revoke create on schema hmis_admin from PUBLIC');
      await db.knex.raw('revoke create on schema hmis_admin from public');
      const fine = await run('locked');
      expect(fine.code, fine.stderr).toBe(0);
    } finally {
      await db.knex.raw('alter schema hmis_admin owner to current_user');
      await db.knex.raw('revoke create on schema hmis_admin from public');
      await db.knex.raw('drop role planted_owner');
    }
  });
});

// native mode keeps its tables in the connection's schema; `db migrate` and `db status` (knex's bookkeeping compares
// catalogue names with whatever `=` is visible there) warn when others may create objects in it.
describe.runIf(onServer)('native mode: a schema others may create in', () => {
  let db: TestDb;
  useHostDb('native', (opened) => void (db = opened), { reset: false });

  it('db status and db migrate warn, naming the revoke; nothing when only the owner may', async () => {
    const quiet = await cli(['db', 'status'], { database: db, env: db.env });
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stderr).not.toContain('create objects');
    await db.knex.raw('grant create on schema public to public');
    try {
      for (const args of [['db', 'status'], ['db', 'migrate']]) {
        const r = await cli(args, { database: db, env: db.env });
        expect(r.code, r.stderr).toBe(0);
        expect(r.stderr).toContain('the schema public lets PUBLIC create objects in it');
        expect(r.stderr).toContain('`revoke create on schema public from PUBLIC`');
      }
    } finally {
      await db.knex.raw('revoke create on schema public from public');
    }
  });
});
