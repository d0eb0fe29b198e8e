/**
 * A real database per test file: a fresh PostgreSQL database when HMIS_TEST_DATABASE_URL is set
 * (created and dropped here), otherwise a copy of the migrated PGlite template.
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Knex } from 'knex';
import type { Database } from '../../src/db/connection.js';
import { pgliteKnexOptions } from '../../src/db/pglite.js';
import { emptyTables, hostEnv, hostKnexOptions, prepareHost, registerHost, truncateHost, type HostName } from './hosts.js';
import { deviseTemplateDir, serverTemplateName, templateDir, testRoot } from './paths.js';

export interface TestDb extends Database {
  /** Env for a spawned hmis-admin that must see this database (HMIS_DATABASE_URL or HMIS_DATA_DIR). */
  env: Record<string, string>;
  /** Removes every row (audit rows too) so a test starts clean. */
  reset(): Promise<void>;
}

export const serverUrl = process.env.HMIS_TEST_DATABASE_URL;
export const onServer = Boolean(serverUrl);

/** Open the test database. For PGlite, pass `closeBeforeSpawn` usage: call db.close() before spawning the CLI. */
export async function openTestDb(host: HostName = 'native'): Promise<TestDb> {
  const { default: knexFactory } = await import('knex');
  if (serverUrl) {
    // A copy of the run's migrated template (global setup); without one (a file run on its own), migrate.
    const template = serverTemplateName(host);
    const copied = await createServerDatabase('hmis_test', template).catch(() => undefined);
    const server = copied ?? (await createServerDatabase('hmis_test'));
    const url = new URL(server.url);
    const knex = knexFactory({ client: 'pg', connection: url.toString(), pool: { min: 0, max: 30 }, ...hostKnexOptions(host) });
    registerHost(knex, host);
    if (!copied) await prepareHost(knex, host);
    return {
      knex,
      kind: 'postgres',
      where: `${url.hostname}:${url.port || 5432}`,
      env: { HMIS_DATABASE_URL: url.toString(), ...hostEnv(host) },
      reset: () => truncateHost(knex),
      close: async () => {
        await knex.destroy();
        await server.drop();
      },
    };
  }
  return leaseEmbedded(host);
}

interface Embedded {
  knex: Knex;
  host: HostName;
  /** The folder holding pgdata (removed when the database is really closed). */
  home: string;
  /** What the database looked like when it was opened: a file that changed more than rows gets no reuse. */
  shape: string;
}

/** Embedded databases a test file closed with nothing but rows changed, emptied and kept open for the next file of this worker. */
const idle: Embedded[] = [];

/**
 * Everything a test could change besides rows, and that emptying the tables would not undo: tables, columns,
 * indexes, triggers, functions, roles, grants, and the session's user and settings.
 */
async function shapeOf(knex: Knex): Promise<string> {
  const { rows } = (await knex.raw(`select md5(string_agg(x, ',' order by x)) as shape from (
    select 'c:' || c.oid::regclass::text || ':' || c.relkind::text || ':' || coalesce(c.relacl::text, '') from pg_class c
      join pg_namespace n on n.oid = c.relnamespace where n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')
    union all select 'a:' || a.attrelid::regclass::text || '.' || a.attname || ':' || a.atttypid || ':' || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
      from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
      left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
      where n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast') and a.attnum > 0 and not a.attisdropped
    union all select 't:' || tgrelid::regclass::text || '.' || tgname || ':' || tgenabled::text from pg_trigger where not tgisinternal
    union all select 'p:' || p.oid::regprocedure::text || ':' || md5(p.prosrc) from pg_proc p
      join pg_namespace n on n.oid = p.pronamespace where n.nspname not in ('pg_catalog', 'information_schema')
    union all select 'n:' || nspname || ':' || coalesce(nspacl::text, '') from pg_namespace
    union all select 'r:' || rolname from pg_roles
    union all select 's:' || current_user || ':' || session_user || ':' || current_setting('search_path') || ':' || current_setting('TimeZone')
    union all select 'l:' || count(*) from pg_locks where locktype = 'advisory'
  ) s(x)`)) as { rows: Array<{ shape: string }> };
  return rows[0]!.shape;
}

/** Empty every table of the host and the tool (audit rows too), ids restarting from 1. */
async function emptyAll(knex: Knex): Promise<void> {
  const { rows } = (await knex.raw(`select format('%I.%I', table_schema, table_name) as t from information_schema.tables
    where table_schema in ('public', 'hmis_admin') and table_type = 'BASE TABLE' and table_name not like 'knex_migrations%'`)) as { rows: Array<{ t: string }> };
  await emptyTables(knex, rows.map((r) => r.t));
}

/**
 * A PGlite database for one test file: the worker's idle one for this host when there is one (emptied when the
 * last file closed it; the PGlite start-up costs about a second a file), else a copy of the migrated template.
 * Each file gets a data folder of its own for what the CLI writes there (mail); the database itself may
 * live in an earlier file's folder. Nothing may spawn hmis-admin on it (no integration test does).
 */
async function leaseEmbedded(host: HostName): Promise<TestDb> {
  const at = idle.findIndex((d) => d.host === host);
  let db = at >= 0 ? idle.splice(at, 1)[0] : undefined;
  if (!db) {
    const { default: knexFactory } = await import('knex');
    const home = mkdtempSync(join(testRoot, 'db-'));
    cpSync(host === 'devise' ? deviseTemplateDir : templateDir, join(home, 'pgdata'), { recursive: true });
    const knex = knexFactory({ ...(await pgliteKnexOptions(join(home, 'pgdata'))), ...hostKnexOptions(host) });
    registerHost(knex, host);
    db = { knex, host, home, shape: await shapeOf(knex) };
  }
  const leased = db;
  const dataDir = mkdtempSync(join(testRoot, 'data-'));
  let closed = false;
  return {
    knex: leased.knex,
    kind: 'pglite',
    where: `the embedded database in ${dataDir}`,
    env: { HMIS_DATA_DIR: dataDir, ...hostEnv(host) },
    reset: () => truncateHost(leased.knex),
    close: async () => {
      if (closed) return;
      closed = true;
      rmSync(dataDir, { recursive: true, force: true });
      const reusable = await shapeOf(leased.knex).then((shape) => shape === leased.shape, () => false);
      if (reusable && (await emptyAll(leased.knex).then(() => true, () => false))) {
        idle.push(leased);
        return;
      }
      await leased.knex.destroy();
      rmSync(leased.home, { recursive: true, force: true });
    },
  };
}

/** Empty every table; the audit trigger refuses TRUNCATE, so it is lifted for the test only. */
export async function truncateAll(knex: Knex): Promise<void> {
  await truncateHost(knex);
}

export interface SpawnDb {
  /** Env that points a spawned hmis-admin at this database. */
  env: Record<string, string>;
  /** Open it in-process for a look (PGlite: only while no child runs; close it before the next spawn). */
  open(): Promise<Database>;
  drop(): Promise<void>;
}

/**
 * A database for e2e tests that spawn the binary: nothing holds it open in the test process, so the
 * child gets the embedded database's lock (PGlite) or its own connections (server).
 */
export async function spawnTestDb(): Promise<SpawnDb> {
  const { default: knexFactory } = await import('knex');
  if (serverUrl) {
    const server = await createServerDatabase('hmis_e2e');
    const url = new URL(server.url);
    return {
      env: { HMIS_DATABASE_URL: url.toString(), HMIS_DATA_DIR: mkdtempSync(join(testRoot, 'data-')) },
      open: async () => {
        const knex = knexFactory({ client: 'pg', connection: url.toString(), pool: { min: 0, max: 4 } });
        return { knex, kind: 'postgres', where: url.host, close: () => knex.destroy() };
      },
      drop: async () => {
        await server.drop();
      },
    };
  }
  const dataDir = mkdtempSync(join(testRoot, 'e2e-'));
  cpSync(templateDir, join(dataDir, 'pgdata'), { recursive: true });
  return {
    env: { HMIS_DATA_DIR: dataDir },
    open: async () => {
      const knex = knexFactory(await pgliteKnexOptions(join(dataDir, 'pgdata')));
      return { knex, kind: 'pglite', where: dataDir, close: () => knex.destroy() };
    },
    drop: async () => rmSync(dataDir, { recursive: true, force: true }),
  };
}

/**
 * Open a spawn database in the test process, run `fn` on it (in-process `cli()` calls, reads, seeding), close it.
 * PGlite: no child may run meanwhile (the child would wait for the lock file).
 */
export async function withOpen<T>(sdb: SpawnDb, fn: (db: Database) => Promise<T>): Promise<T> {
  const db = await sdb.open();
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

/**
 * A fresh database on the test server (`<prefix>_<pid>_<random>`), empty or a copy of `template`; drop()
 * removes it, forcing out connections.
 */
export async function createServerDatabase(prefix: string, template?: string): Promise<{ url: string; drop(): Promise<void> }> {
  if (!serverUrl) throw new Error('a server database needs HMIS_TEST_DATABASE_URL');
  const { default: knexFactory } = await import('knex');
  const name = `${prefix}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const onServer = async (sql: string) => {
    const admin = knexFactory({ client: 'pg', connection: serverUrl, pool: { min: 0, max: 1 } });
    try {
      await admin.raw(sql);
    } finally {
      await admin.destroy();
    }
  };
  await onServer(template ? `create database ${name} template ${template}` : `create database ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => onServer(`drop database if exists ${name} with (force)`) };
}
