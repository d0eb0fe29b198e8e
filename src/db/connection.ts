/** Opening the database: a PostgreSQL server through pg, or the embedded PGlite folder guarded by a lock file. */
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Knex } from 'knex';
import { describeDatabase, type Config } from '../config.js';
import { CliError, describeConnectionError, OperationalError, UsageError } from '../errors.js';
import { databaseTarget, pgConnection } from '../validate/database-url.js';
import { acquireLock } from './lockfile.js';
import { DEVISE_HOST_IN_NATIVE_MODE, deviseHostInNativeMode, migrateLatest, pendingMigrations, refuseForeignToolSchema, TOOL_SCHEMA } from './migrate.js';

export type DbKind = 'postgres' | 'pglite';

export interface Database {
  knex: Knex;
  kind: DbKind;
  /** host:port or the embedded folder, for messages. */
  where: string;
  /** Migrations opening it applied (the embedded database is brought up to date when it opens, created or not). */
  applied?: string[];
  close(): Promise<void>;
}

export interface OpenOptions {
  /** Apply pending migrations (the embedded database does this on first use). */
  migrate?: boolean;
  /** May create the embedded database when there is none (only `demo` and `db migrate`). */
  create?: boolean;
  /** Skip the check that the schema is current (for `db migrate` / `db status`). */
  skipSchemaCheck?: boolean;
  /** How long to wait for another process holding the embedded database. */
  lockWaitMs?: number;
  /** Called once when the embedded database is used (the stderr notice). */
  notice?: (message: string) => void;
  /** A bar for creating a new embedded database (20 s or more, with no steps to count). */
  estimate?: (label: string, expectedMs: number) => { done(): void };
}

/** knex prints connection errors with stacks on its own; ours are one line, so its log speaks only under DEBUG. */
const debugging = /\bhmis-admin\b/.test(process.env.DEBUG ?? '');
const say = (m: unknown) => {
  if (debugging) process.stderr.write(`knex: ${m instanceof Error ? m.stack : String(m)}\n`);
};
const quietLog = { warn: say, error: say, deprecate: say, debug: say };

/** Open the configured database, checking that it answers. */
export async function openDatabase(config: Config, options: OpenOptions = {}): Promise<Database> {
  const { default: knexFactory } = await import('knex');
  const where = describeDatabase(config);
  if (config.databaseSource === 'embedded') return openEmbedded(config, knexFactory, where, options);

  // connect_timeout in the URL (or PGCONNECT_TIMEOUT) is honoured; pg itself reads neither.
  const connectionTimeoutMillis = databaseTarget(config.databaseUrl ?? 'postgres://', 5000).connectTimeoutMs;
  // pg's type parsers with a fast timestamptz (pg-time.ts).
  const { fastTimeTypes } = await import('./pg-time.js');
  const common = { application_name: 'hmis-admin', connectionTimeoutMillis, types: fastTimeTypes };
  const knex = knexFactory({
    ...searchPath(config),
    client: 'pg',
    // knex asks a new connection's server for its version (`select version()`, a round trip every run) only to
    // choose json over text before PostgreSQL 9.2; the tool's schema needs jsonb, i.e. 9.4 or later: say so instead.
    version: '9.4',
    connection: config.databaseUrl ? { ...pgConnection(config.databaseUrl), ...common } : common,
    pool: { min: 0, max: 8 },
    // Longer than the connect timeout, so its own message ("no answer within N s") is the one that shows.
    acquireConnectionTimeout: connectionTimeoutMillis === 0 ? 2_147_483_647 : Math.max(10_000, connectionTimeoutMillis + 5_000),
    log: quietLog,
  });
  const db: Database = { knex, kind: 'postgres', where, close: () => knex.destroy() };
  try {
    // The connection opens or its error says why, as a first query would, without the round trip of one.
    await knex.client.releaseConnection(await knex.client.acquireConnection());
  } catch (err) {
    await knex.destroy().catch(() => undefined);
    if (connectionTimeoutMillis > 0 && /^(timeout expired|Connection terminated due to connection timeout)$/.test((err as Error).message)) {
      throw new OperationalError(
        `no answer from the database at ${where} within ${connectionTimeoutMillis / 1000} s; check that PostgreSQL runs there, or wait longer with connect_timeout=<seconds> in --db / HMIS_DATABASE_URL`,
      );
    }
    throw describeConnectionError(err, where) ?? new OperationalError(`cannot use the database at ${where}: ${(err as Error).message}`);
  }
  await prepareSchema(db, config, options);
  return db;
}

/**
 * devise mode: the tool's own tables are found (and made) in hmis_admin, and nothing else is on the search path
 * (pg_catalog is searched first anyway): the host's tables are always named with their schema, and a function or
 * operator the application's role created in its schema (public) could otherwise match a host column more closely
 * than pg_catalog's — public.btrim(varchar) over btrim(text) — and run with the administrator's rights.
 */
function searchPath(config: Config): { searchPath?: string[] } {
  return config.schema === 'devise' ? { searchPath: [TOOL_SCHEMA] } : {};
}

async function prepareSchema(db: Database, config: Config, options: OpenOptions): Promise<void> {
  // devise mode: the tool's schema is the whole search path; someone else's is refused before anything reads from it.
  if (config.schema === 'devise') await refuseForeignToolSchema(db.knex).catch(async (err: unknown) => {
    await db.close();
    throw err;
  });
  // native mode, nothing of ours yet: refuse a Devise application's database before anything is written.
  const status = await pendingMigrations(db.knex, config.schema);
  if (config.schema === 'native' && status.applied === 0) await refuseDeviseHost(db);
  if (options.migrate) {
    await migrateLatest(db.knex, config.schema);
    return;
  }
  if (options.skipSchemaCheck) return;
  if (status.pending.length > 0) {
    await db.close();
    const what = status.applied === 0 ? 'has no hmis-admin schema' : `needs ${status.pending.length} schema migration(s)`;
    // A refused precondition with a known fix (exit 2), not an outage.
    throw new UsageError(`the database at ${db.where} ${what}; run \`hmis-admin db migrate\` first`);
  }
}

async function openEmbedded(
  config: Config,
  knexFactory: typeof import('knex').default,
  where: string,
  options: OpenOptions,
): Promise<Database> {
  const dir = join(config.dataDir, 'pgdata');
  // A cron line that lost HMIS_DATABASE_URL must not run "successfully" on a new, empty database.
  const lockPath = join(config.dataDir, 'pgdata.lock');
  let fresh = !existsSync(join(dir, 'PG_VERSION'));
  if (!options.create && fresh) {
    if (!existsSync(lockPath)) throw noDatabase(dir);
    // Another run holds the folder, perhaps creating the database right now (`demo` in a new folder):
    // wait for it as for any run, then look again.
    (await acquireLock(lockPath, options.lockWaitMs ?? 15_000))();
    fresh = !existsSync(join(dir, 'PG_VERSION'));
    if (fresh) throw noDatabase(dir);
  }
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  // PGlite writes its files world-writable; the folder it lives in is ours alone, even if it existed.
  // (HMIS_DATA_DIR itself may be shared, e.g. /tmp: only folders the tool owns are tightened.)
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const release = await acquireLock(lockPath, options.lockWaitMs ?? 15_000);
  try {
    // The bundle's loader has V8 compile PGlite's WebAssembly with its baseline compiler only (scripts/bundle-loader.mjs).
    (globalThis as { __hmisWasmBaseline?: () => void }).__hmisWasmBaseline?.();
    const { pgliteKnexOptions } = await import('./pglite.js');
    const knex = knexFactory({ ...searchPath(config), ...(await pgliteKnexOptions(dir)), log: quietLog });
    let closed = false;
    const db: Database = {
      knex,
      kind: 'pglite',
      where,
      close: async () => {
        if (closed) return;
        closed = true;
        try {
          await knex.destroy();
        } finally {
          release();
        }
      },
    };
    options.notice?.(embeddedNotice(dir));
    const bar = fresh ? options.estimate?.('creating the embedded database', 20_000) : undefined;
    try {
      // The embedded database is the tool's own: it is always brought up to date.
      // One plain query when current; knex's migrator (lock table, listing) only when something is pending.
      const status = await pendingMigrations(knex, config.schema);
      if (config.schema === 'native' && status.applied === 0 && (await deviseHostInNativeMode(knex))) {
        await knex.destroy();
        throw new UsageError(`${where} ${DEVISE_HOST_IN_NATIVE_MODE}`);
      }
      if (status.pending.length) db.applied = await migrateLatest(knex, config.schema);
    } finally {
      bar?.done();
    }
    return db;
  } catch (err) {
    release();
    throw err instanceof CliError ? err : new OperationalError(`cannot open ${where}: ${(err as Error).message}`);
  }
}

/** Exit 2 (and the database closed) when native mode meets a Devise application's users table. */
async function refuseDeviseHost(db: Database): Promise<void> {
  if (!(await deviseHostInNativeMode(db.knex))) return;
  await db.close();
  throw new UsageError(`the database at ${db.where} ${DEVISE_HOST_IN_NATIVE_MODE}`);
}

/** One line that fits 80 columns with a usual home folder: `embedded database ~/.local/share/hmis-admin/pgdata (--db for a server)`. */
export function embeddedNotice(dir: string): string {
  const home = homedir();
  const shown = home && dir.startsWith(`${home}/`) ? `~${dir.slice(home.length)}` : dir;
  const line = `embedded database ${shown} (--db for a server)`;
  return line.length < 80 ? line : `embedded database ${shown}`;
}

/** Exit 2: no server configured and no embedded database to use; say how to get one. */
function noDatabase(dir: string): UsageError {
  return new UsageError(
    `no HMIS database: HMIS_DATABASE_URL is not set (in the environment or a .env in the working directory) and there is no embedded database in ${dir}; ` +
      'point hmis-admin at the HMIS database with --db postgres://user@host/hmis or HMIS_DATABASE_URL (in a cron job: in its environment, or in a .env in the directory it runs from), ' +
      'or try it on demo data with `hmis-admin demo`',
  );
}

export { acquireLock, LockBusyError } from './lockfile.js';
