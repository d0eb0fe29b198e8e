/**
 * A Devise application's database (OpenPath HMIS) opened with HMIS_SCHEMA forgotten (native, the default):
 * every command refuses with exit 2 naming HMIS_SCHEMA=devise, and nothing is written — no knex_migrations,
 * no tool tables, not a byte of the host's schema.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, spawnCli } from '../helpers/cli.js';
import { pgliteKnexOptions } from '../../src/db/pglite.js';
import { serverUrl } from '../helpers/db.js';
import { createDeviseDatabase, type DeviseDatabase } from '../helpers/devise.js';
import { deviseTemplateDir, testRoot } from '../helpers/paths.js';

let env: Record<string, string>;
let knex: () => Promise<Knex>;
let cleanup: () => Promise<void>;

/** Every table and column in every schema but the catalogue's: what "nothing written" means in DDL. */
async function catalogue(): Promise<string[]> {
  const k = await knex();
  try {
    const { rows } = (await k.raw(
      `select table_schema || '.' || table_name || '.' || column_name || ':' || data_type as c from information_schema.columns
       where table_schema not in ('pg_catalog', 'information_schema') order by 1`,
    )) as { rows: Array<{ c: string }> };
    const users = (await k.raw('select count(*)::int as n from public.users')) as { rows: Array<{ n: number }> };
    // On the server, the host schema's full DDL too (pg_dump ≥ 15.14 adds a random \restrict key: not schema).
    const dump = serverUrl ? spawnSync('pg_dump', ['--schema-only', '--schema=public', '--no-owner', env.HMIS_DATABASE_URL!], { encoding: 'utf8' }).stdout.replace(/^\\(un)?restrict .*$/gm, '') : '';
    return [...rows.map((r) => r.c), `users:${users.rows[0]!.n}`, dump];
  } finally {
    if (!serverUrl) await k.destroy();
  }
}

beforeAll(async () => {
  const { default: knexFactory } = await import('knex');
  if (serverUrl) {
    const db: DeviseDatabase = await createDeviseDatabase();
    await db.knex.raw("insert into users (last_name, email) values ('Smith', 'mike.s@agency.org')");
    env = { HMIS_DATABASE_URL: db.url };
    knex = async () => db.knex;
    cleanup = () => db.drop();
  } else {
    // The embedded folder of a Devise host (OpenPath-shaped users, hmis_admin migrated) opened in native mode.
    const dataDir = mkdtempSync(join(testRoot, 'devise-native-'));
    cpSync(deviseTemplateDir, join(dataDir, 'pgdata'), { recursive: true });
    knex = async () => knexFactory(await pgliteKnexOptions(join(dataDir, 'pgdata')));
    const k = await knex();
    await k.raw("insert into users (last_name, email) values ('Smith', 'mike.s@agency.org')");
    await k.destroy();
    env = { HMIS_DATA_DIR: dataDir };
    cleanup = async () => rmSync(dataDir, { recursive: true, force: true });
  }
});
afterAll(async () => {
  await cleanup?.();
});

describe('HMIS_SCHEMA forgotten on a Devise database', () => {
  it('db status, db migrate and every other command refuse with exit 2 naming HMIS_SCHEMA=devise; nothing is written', async () => {
    const before = await catalogue();
    // Each run opens the database anew (the embedded one takes seconds on a loaded machine): a few that cover it.
    // The two that would write (db migrate, unlock) through the binary; db status and locked in-process, where
    // main() opens the database itself from the same settings, as the binary does (no handle is passed in).
    for (const [args, how] of [[['db', 'status'], cli], [['db', 'migrate'], spawnCli], [['locked'], cli], [['unlock', '--all', '--yes'], spawnCli]] as const) {
      const r = how === cli ? await cli([...args], { env }) : await spawnCli([...args], env);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(/^hmis-admin: (the database at )?.* holds a Devise application's users table \(OpenPath HMIS\?\).*set HMIS_SCHEMA=devise and the HMIS_DEVISE_\* settings \(README section "Running against OpenPath HMIS or another Devise application"\); nothing was changed\n$/m);
      expect(r.stderr).not.toMatch(/relation|select |insert |create table/i);
      expect(r.stdout).toBe('');
    }
    if (serverUrl) expect(before.at(-1)).toContain('CREATE TABLE public.users');
    expect(await catalogue()).toEqual(before);
    expect(before.some((c) => c.includes('knex_migrations') && c.startsWith('public.'))).toBe(false);
  }, 240_000);
});
