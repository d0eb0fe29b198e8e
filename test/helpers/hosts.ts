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
import type { Config } from '../../src/config.js';
import type { AccountRow, AccountStore, LockReason } from '../../src/store/types.js';
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

/** The configuration hmis-admin runs with on this host (its defaults: paths, link lifetime, lockout threshold). */
export async function hostConfig(host: HostName): Promise<Config> {
  const { loadConfig } = await import('../../src/config.js');
  return loadConfig({}, { HOME: '/nonexistent', HMIS_DATABASE_URL: 'postgres://localhost/x', HMIS_SMTP_URL: 'smtp://localhost:25', HMIS_MAIL_FROM: 'a@b.org', ...hostEnv(host) }, repoRoot, false);
}

/** The account store over a test database (the same class hmis-admin would pick). */
export async function storeOf(knex: Knex, clock: () => Date = () => new Date()): Promise<AccountStore> {
  const { storeOn } = await import('../../src/store/index.js');
  return storeOn(knex, await hostConfig(hostOfKnex(knex)), clock);
}

export interface LinkShape {
  resetPath: string;
  resetParam: string;
  verifyPath: string;
  verifyParam: string;
  resetTtlMs: number;
}

/** What a link looks like on this host: its path and query parameter, for reset and for confirmation links. */
export async function linkShape(host: HostName): Promise<LinkShape> {
  const config = await hostConfig(host);
  const devise = host === 'devise';
  return {
    resetPath: config.resetPath,
    resetParam: devise ? 'reset_password_token' : 'token',
    verifyPath: config.verifyPath,
    verifyParam: devise ? 'confirmation_token' : 'token',
    resetTtlMs: config.resetTtlMs,
  };
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
    // The application's tables go in public (the tool's connections have only hmis_admin on their search path).
    await knex.transaction(async (trx) => {
      await trx.raw('set local search_path to public');
      for (const statement of sql.split(';').map((x) => x.trim()).filter(Boolean)) await trx.raw(statement);
    });
  }
  await migrateLatest(knex, host);
}

/** knex options a test connection to this host needs: devise finds the tool's tables in hmis_admin first. */
export function hostKnexOptions(host: HostName): { searchPath?: string[] } {
  return host === 'devise' ? { searchPath: ['hmis_admin'] } : {}; // as the tool's own connection (src/db/connection.ts searchPath)
}

/** How many accounts are locked now, for any reason or for this one (any host). */
export async function lockedCount(knex: Knex, reason?: LockReason): Promise<number> {
  return (await storeOf(knex)).count(reason ? { lockReasons: [reason] } : { locked: true });
}

/** Login names of these account ids (any host). */
export async function loginsOf(knex: Knex, ids: number[]): Promise<Map<number, string>> {
  return (await storeOf(knex)).usernames(ids);
}

/**
 * An account as a suite describes it, in the native column names; each host writes it in its own columns.
 * On devise: the login is `user_name`, an address is never null (''), `email_verified_at` is confirmable's
 * `confirmed_at`, a failed-login lock is lockable's `locked_at`, an administrator's or agreement lock is the
 * active flag off with its reason (and the expiry and supervisor) in hmis_admin.account_state. Devise keeps no
 * time of the last failed login: `last_failed_login_at` is not stored there.
 */
export interface AccountSeed {
  username: string;
  first_name?: string;
  last_name?: string;
  email?: string | null;
  email_verified_at?: Date | null;
  phone?: string | null;
  agency_id?: number | null;
  supervisor_id?: number | null;
  locked_at?: Date | null;
  lock_reason?: string | null;
  failed_login_attempts?: number;
  last_failed_login_at?: Date | null;
  account_expires_at?: Date | null;
  last_login_at?: Date | null;
  created_at?: Date;
  /** devise only: an address waiting for confirmation (confirmable's unconfirmed_email). */
  pending_email?: string | null;
}

type StateRow = { expires_at?: Date | null; lock_reason?: string | null; locked_at?: Date | null; supervisor_id?: number | null };

/** The host's columns for (part of) a seed, and what devise keeps in hmis_admin.account_state. */
function deviseColumns(knex: Knex, a: Partial<AccountSeed>): { users: Record<string, unknown>; state: StateRow } {
  const utc = (d: Date | null | undefined) => (d ? knex.raw("?::timestamptz at time zone 'utc'", [d.toISOString()]) : null);
  const users: Record<string, unknown> = {};
  const state: StateRow = {};
  if (a.username !== undefined) users.user_name = a.username;
  if (a.first_name !== undefined) users.first_name = a.first_name;
  if (a.last_name !== undefined) users.last_name = a.last_name;
  if (a.email !== undefined) users.email = a.email ?? '';
  if (a.email_verified_at !== undefined) users.confirmed_at = utc(a.email_verified_at);
  if (a.phone !== undefined) users.phone = a.phone;
  if (a.pending_email !== undefined) users.unconfirmed_email = a.pending_email;
  if (a.agency_id !== undefined) users.agency_id = a.agency_id;
  if (a.failed_login_attempts !== undefined) users.failed_attempts = a.failed_login_attempts;
  if (a.last_login_at !== undefined) users.current_sign_in_at = utc(a.last_login_at);
  if (a.created_at !== undefined) users.created_at = utc(a.created_at);
  if (a.locked_at !== undefined || a.lock_reason !== undefined) {
    const reason = a.locked_at ? (a.lock_reason ?? 'failed_logins') : null;
    const flagged = reason !== null && reason !== 'failed_logins';
    users.locked_at = reason === 'failed_logins' ? utc(a.locked_at) : null;
    users.active = !flagged;
    state.lock_reason = flagged ? reason : null;
    state.locked_at = flagged ? a.locked_at! : null;
  }
  if (a.account_expires_at !== undefined) state.expires_at = a.account_expires_at;
  if (a.supervisor_id !== undefined) state.supervisor_id = a.supervisor_id;
  return { users, state };
}

/** Insert accounts (native column names, translated for the host); returns their ids in order. */
export async function insertAccounts(knex: Knex, seeds: AccountSeed[], batch = 500): Promise<number[]> {
  const ids: number[] = [];
  const devise = hostOfKnex(knex) === 'devise';
  for (let i = 0; i < seeds.length; i += batch) {
    const part = seeds.slice(i, i + batch);
    if (!devise) {
      const rows = (await knex('users').insert(part).returning('id')) as Array<{ id: number | string }>;
      ids.push(...rows.map((r) => Number(r.id)));
      continue;
    }
    const cols = part.map((s) => deviseColumns(knex, { last_name: '', email: null, ...s }));
    const rows = (await knex('public.users').insert(cols.map((c) => c.users)).returning('id')) as Array<{ id: number | string }>;
    const state = rows.flatMap((r, j) => (Object.values(cols[j]!.state).some((v) => v != null) ? [{ user_id: Number(r.id), ...cols[j]!.state }] : []));
    if (state.length) await knex('hmis_admin.account_state').insert(state);
    ids.push(...rows.map((r) => Number(r.id)));
  }
  return ids;
}

/** Change an account (native column names, translated for the host), found by its login. */
export async function updateAccount(knex: Knex, login: string, changes: Partial<AccountSeed>): Promise<void> {
  const { id } = await userRow(knex, login);
  if (hostOfKnex(knex) !== 'devise') {
    await knex('users').where('id', id).update(changes);
    return;
  }
  const { users, state } = deviseColumns(knex, changes);
  if (Object.keys(users).length) await knex('public.users').where('id', id).update(users);
  if (Object.keys(state).length) await knex('hmis_admin.account_state').insert({ user_id: id, ...state }).onConflict('user_id').merge(state);
}

/** Agency id by name (any host). */
export async function agencyId(knex: Knex, name: string): Promise<number | undefined> {
  const a = await (await storeOf(knex)).agencyByName(name);
  return a?.id;
}

/** Insert an agency by name, or find it; returns its id (any host). */
export async function ensureAgency(knex: Knex, name: string): Promise<number> {
  const found = await agencyId(knex, name);
  if (found !== undefined) return found;
  const [row] = (await knex(hostOfKnex(knex) === 'devise' ? 'public.agencies' : 'agencies').insert({ name }).returning('id')) as Array<{ id: number | string }>;
  return Number(row!.id);
}

/** Every account as the store reads it, by id. */
export async function allAccounts(knex: Knex): Promise<AccountRow[]> {
  const out: AccountRow[] = [];
  for await (const row of (await storeOf(knex)).page({}, 'id', Infinity)) out.push(row);
  return out;
}

/** What the link history stores for a raw reset token on this host (native: SHA-256; devise: Devise's digest). */
export async function resetDigest(knex: Knex, raw: string): Promise<string> {
  return (await storeOf(knex)).reset.digest(raw);
}

/** Every row the host keeps for its accounts, raw (devise: users and the tool's account_state), to compare before and after. */
export async function hostRows(knex: Knex): Promise<Record<string, unknown[]>> {
  if (hostOfKnex(knex) !== 'devise') return { users: await knex('users').orderBy('id') };
  return { users: await knex('public.users').orderBy('id'), state: await knex('hmis_admin.account_state').orderBy('user_id') };
}
