/**
 * The embedded database's engine: PGlite in a folder, started as the tool needs it (the tests open theirs
 * through here too, so they run what users run).
 *
 * PostgreSQL zeroes its shared buffers as it starts, and PGlite's initdb writes 128 MB into
 * postgresql.conf: that memset was ~150 ms of every embedded command's ~0.5 s start (a quarter of its
 * CPU). One process, one connection and a small database need far less; 16 MB is what the tool asks for
 * at each start, leaving the folder's own postgresql.conf as it is. (Measured: full scans of a
 * 50,000-account embedded database took the same time with 16 MB as with 128 MB.)
 */
import type { Knex } from 'knex';
import { createRequire } from 'node:module';

export const EMBEDDED_SETTINGS = ['shared_buffers=16MB'] as const;

/** knex options for the PGlite database in `dir` (created there if the folder holds none). */
export async function pgliteKnexOptions(dir: string): Promise<Pick<Knex.Config, 'client' | 'connection'> & { dialect: 'postgres' }> {
  // PGlite's CommonJS build, the one knex-pglite requires (importing it would load and compile its ES build too),
  // through the bundle loader's code cache when there is one (scripts/bundle-loader.mjs).
  const load = (globalThis as { __hmisRequireCached?: (from: string, specifier: string) => unknown }).__hmisRequireCached ?? ((from, specifier) => createRequire(from)(specifier));
  const { PGlite } = load(import.meta.url, '@electric-sql/pglite') as typeof import('@electric-sql/pglite');
  const startParams = [...PGlite.defaultStartParams, ...EMBEDDED_SETTINGS.flatMap((s) => ['-c', s])];
  const { default: ClientPgLite } = await import('knex-pglite');
  return {
    client: ClientPgLite as unknown as typeof Knex.Client,
    dialect: 'postgres',
    // knex keeps a class instance as it is (no deep copy); knex-pglite uses it and closes it with knex.destroy().
    connection: { pglite: new PGlite(dir, { startParams }) } as unknown as Knex.StaticConnectionConfig,
  };
}
