/**
 * The account hosts the behaviour suites run against: `native` (hmis-admin's own tables) and `devise` (an
 * OpenPath-shaped Devise `users` table, test/devise/schema.sql, with the tool's tables in hmis_admin). The seeds
 * and reads here write and read each host's own columns, so a suite written once runs on both.
 *
 * The devise host of the suites signs in with a `user_name` column (HMIS_DEVISE_LOGIN=user_name, as Primero
 * does), so tests name people as `jdoe` on both hosts, and never unlocks by time (HMIS_UNLOCK_AFTER=never), so
 * fixed clocks in the past do not let Devise's `unlock_in` lift a lock the test set.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Knex } from 'knex';
import type { AccountRow, AccountStore } from '../../src/store/types.js';
import { repoRoot } from './paths.js';

export type HostName = 'native' | 'devise';
export const HOSTS: HostName[] = ['native', 'devise'];

/** CONTRACT's known-answer secret: 128 × "a". */
export const DEVISE_SECRET = 'a'.repeat(128);

/** What a run of hmis-admin needs to see the host (beside the database itself). */
export function hostEnv(host: HostName): Record<string, string> {
  if (host === 'native') return {};
  return { HMIS_SCHEMA: 'devise', HMIS_DEVISE_SECRET: DEVISE_SECRET, HMIS_DEVISE_LOGIN: 'user_name', HMIS_UNLOCK_AFTER: 'never' };
}

/** The OpenPath-shaped host tables, plus the login column the suites use. */
export const DEVISE_HOST_SQL = `${readFileSync(join(repoRoot, 'test', 'devise', 'schema.sql'), 'utf8')}
alter table users add column user_name varchar;
create unique index index_users_on_lower_user_name on users (lower(user_name));
`;

/** Which host each open test database holds, so the seeds below need only its knex. */
const hostOf = new WeakMap<Knex, HostName>();

export function registerHost(knex: Knex, host: HostName): void {
  hostOf.set(knex, host);
}

export function hostOfKnex(knex: Knex): HostName {
  return hostOf.get(knex) ?? 'native';
}

/** The account store over a test database (the same class hmis-admin would pick). */
export async function storeOf(knex: Knex, clock: () => Date = () => new Date()): Promise<AccountStore> {
  const { loadConfig } = await import('../../src/config.js');
  const { storeOn } = await import('../../src/store/index.js');
  const config = loadConfig({}, { HOME: '/nonexistent', HMIS_DATABASE_URL: 'postgres://localhost/x', HMIS_SMTP_URL: 'smtp://localhost:25', HMIS_MAIL_FROM: 'a@b.org', ...hostEnv(hostOfKnex(knex)) }, repoRoot, false);
  return storeOn(knex, config, clock);
}

/** An account as the store reads it (any host), or throws when there is none. */
export async function userRow(knex: Knex, login: string): Promise<AccountRow> {
  const row = await (await storeOf(knex)).findByLogin(login);
  if (!row) throw new Error(`test: no account ${login}`);
  return row;
}

/** Empty the host's tables and the tool's own (audit rows too), ids starting again from 1. */
export async function truncateHost(knex: Knex): Promise<void> {
  const devise = hostOfKnex(knex) === 'devise';
  const tool = ['audit_log', 'agreement_reminders', 'user_agreements', 'email_verification_tokens', 'password_reset_tokens', 'mail_outbox', ...(devise ? ['account_state', 'agency_contacts'] : [])];
  const host = devise ? ['public.users', 'public.agencies'] : ['users', 'agencies'];
  await emptyTables(knex, [...tool, ...host]);
}

/**
 * What TRUNCATE … RESTART IDENTITY does, by DELETE: on PGlite a TRUNCATE makes new files for every table
 * (over a second for these ten), a DELETE of a test's few rows takes milliseconds. As replica, the session
 * skips triggers (the audit trail's refusal of DELETE) and foreign-key checks, so the order does not matter;
 * `tables` must hold every table that refers to one of them (TRUNCATE would have refused otherwise).
 */
export async function emptyTables(knex: Knex, tables: string[]): Promise<void> {
  const regclasses = tables.map((t) => `'${t.replace(/'/g, "''")}'::regclass`).join(', ');
  await knex.transaction(async (trx) => {
    await trx.raw('set local session_replication_role = replica');
    for (const t of tables) await trx.raw(`delete from ${t}`);
    // The sequences the tables own (serial and identity columns) start again.
    await trx.raw(`select setval(q.seqrelid, q.seqstart, false) from pg_sequence q
      join pg_depend d on d.classid = 'pg_class'::regclass and d.objid = q.seqrelid and d.refclassid = 'pg_class'::regclass and d.deptype in ('a', 'i')
      where d.refobjid in (${regclasses})`);
  });
}

/** Create the host's tables (devise) and migrate the tool's own, on a fresh database. */
export async function prepareHost(knex: Knex, host: HostName): Promise<void> {
  const { migrateLatest } = await import('../../src/db/migrate.js');
  if (host === 'devise') {
    // One statement at a time (PGlite prepares each), without the comments (their `?` would read as bindings).
    const sql = DEVISE_HOST_SQL.replace(/--[^\n]*/g, '');
    for (const statement of sql.split(';').map((x) => x.trim()).filter(Boolean)) await knex.raw(statement);
  }
  await migrateLatest(knex, host);
}

/** knex options a test connection to this host needs: devise finds the tool's tables in hmis_admin first. */
export function hostKnexOptions(host: HostName): { searchPath?: string[] } {
  return host === 'devise' ? { searchPath: ['hmis_admin', 'public'] } : {};
}

/** How many accounts are locked now (any host). */
export async function lockedCount(knex: Knex): Promise<number> {
  return (await storeOf(knex)).count({ locked: true });
}
