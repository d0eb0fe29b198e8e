/**
 * A real database per test file: a fresh PostgreSQL database when HMIS_TEST_DATABASE_URL is set
 * (created and dropped here), otherwise a copy of the migrated PGlite template.
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Knex } from 'knex';
import type { Database } from '../../src/db/connection.js';
import { hostEnv, hostKnexOptions, prepareHost, registerHost, truncateHost, type HostName } from './hosts.js';
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
  const dataDir = mkdtempSync(join(testRoot, 'db-'));
  cpSync(host === 'devise' ? deviseTemplateDir : templateDir, join(dataDir, 'pgdata'), { recursive: true });
  const { default: ClientPgLite } = await import('knex-pglite');
  const knex = knexFactory({ client: ClientPgLite as never, dialect: 'postgres', connection: { filename: join(dataDir, 'pgdata') } as never, ...hostKnexOptions(host) });
  registerHost(knex, host);
  let closed = false;
  return {
    knex,
    kind: 'pglite',
    where: `the embedded database in ${dataDir}`,
    env: { HMIS_DATA_DIR: dataDir, ...hostEnv(host) },
    reset: () => truncateHost(knex),
    close: async () => {
      if (closed) return;
      closed = true;
      await knex.destroy();
      rmSync(dataDir, { recursive: true, force: true });
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
      const { default: ClientPgLite } = await import('knex-pglite');
      const knex = knexFactory({ client: ClientPgLite as never, dialect: 'postgres', connection: { filename: join(dataDir, 'pgdata') } as never });
      return { knex, kind: 'pglite', where: dataDir, close: () => knex.destroy() };
    },
    drop: async () => rmSync(dataDir, { recursive: true, force: true }),
  };
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
