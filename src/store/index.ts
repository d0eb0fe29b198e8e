/** Choosing the account store once, from configuration (HMIS_SCHEMA). */
import type { Knex } from 'knex';
import type { Config } from '../config.js';
import type { Database } from '../db/connection.js';
import { UsageError } from '../errors.js';
import type { DeviseColumns } from './devise/host.js';
import type { AccountStore } from './types.js';

export type { AccountRow, AccountStore, LockReason } from './types.js';

/** The store for the configured host. A Devise table missing a required column is refused (exit 2), naming each. */
export async function openStore(db: Database, config: Config, clock: () => Date): Promise<AccountStore> {
  return storeOn(db.knex, config, clock, db.where);
}

// A Devise host's columns are read from the catalogue once per connection pool, however many callers ask.
const hosts = new WeakMap<Knex, Promise<DeviseColumns>>();

/** The store over an open knex (the outbox's link minters have the knex and the configuration, not the context). */
export async function storeOn(knex: Knex, config: Config, clock: () => Date, where = 'the database'): Promise<AccountStore> {
  if (config.schema === 'native') {
    const { NativeStore } = await import('./native/index.js');
    return new NativeStore(knex, clock);
  }
  const [{ DeviseStore }, { inspectHost }] = await Promise.all([import('./devise/index.js'), import('./devise/host.js')]);
  const settings = { ...config.devise, resetTtlMs: config.resetTtlMs, schema: 'public' };
  let columns = hosts.get(knex);
  if (!columns) {
    columns = inspectHost(knex, settings);
    hosts.set(knex, columns);
    columns.catch(() => hosts.delete(knex));
  }
  const found = await columns;
  if (found.missing.length) throw missingColumns(where, found.missing);
  return new DeviseStore(knex, clock, settings, found);
}

/** Exit 2: HMIS_SCHEMA=devise, but the table is not (or not yet) a Devise users table this tool can use. */
export function missingColumns(where: string, missing: string[]): UsageError {
  return new UsageError(
    `HMIS_SCHEMA=devise, but public.users at ${where} lacks ${missing.join(', ')}; ` +
      'point --db at the web application\'s database, check HMIS_DEVISE_LOGIN and HMIS_DEVISE_ACTIVE, or enable the Devise modules (recoverable, lockable) it needs',
  );
}
