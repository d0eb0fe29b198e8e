/**
 * What a Devise `users` table looks like here: which columns it has (found once, from the catalogue), how its
 * timestamps are read and written (Rails keeps UTC in `timestamp without time zone`), and the settings that
 * must equal the web application's own Devise configuration.
 */
import type { Knex } from 'knex';
import type { DeviseKeyDigest } from './token.js';

/** The web application's Devise settings as hmis-admin needs them (CONTRACT "Host schemas"). */
export interface DeviseSettings {
  /** `secret_key_base` / `Devise.secret_key`; null: commands that mint reset links refuse. */
  secret: string | null;
  keyDigest: DeviseKeyDigest;
  /** The authentication key column (`email` in OpenPath, `user_name` in Primero). */
  login: string;
  /** The active flag: `active` (true may sign in), `!disabled` (true may not), or null when the host has none. */
  active: { column: string; inverted: boolean } | null;
  /** `unlock_in` when Devise also unlocks by time; null when only an administrator (or mail) unlocks. */
  unlockAfterMs: number | null;
  /** `reset_password_within`. */
  resetTtlMs: number;
  /** The schema holding the host's tables. */
  schema: string;
}

/** Columns without which the tool cannot work on a Devise table. */
export const REQUIRED = ['id', 'email', 'reset_password_token', 'reset_password_sent_at', 'failed_attempts', 'locked_at'] as const;
const CONFIRMABLE = ['confirmation_token', 'confirmed_at', 'confirmation_sent_at', 'unconfirmed_email'];

export interface DeviseColumns {
  /** Every column of the users table, with whether it is `timestamp without time zone`. */
  users: Map<string, { naive: boolean }>;
  /** The agencies table has id and name. */
  agencies: boolean;
  missing: string[];
}

/** Read the host's columns from the catalogue (one query) and say which required ones are missing. */
export async function inspectHost(knex: Knex, s: DeviseSettings): Promise<DeviseColumns> {
  // Compared as text (sql_identifier is a domain: see migrate.ts deviseHostInNativeMode).
  const rows = (await knex('information_schema.columns')
    .whereRaw('table_schema::text = ?', [s.schema])
    .whereRaw("table_name::text in ('users', 'agencies')")
    .select('table_name', 'column_name', 'data_type')) as Array<{ table_name: string; column_name: string; data_type: string }>;
  const users = new Map<string, { naive: boolean }>();
  const agencyCols = new Set<string>();
  for (const r of rows) {
    if (r.table_name === 'users') users.set(r.column_name, { naive: r.data_type === 'timestamp without time zone' });
    else agencyCols.add(r.column_name);
  }
  const want = [...new Set([...REQUIRED, s.login, ...(s.active ? [s.active.column] : [])])];
  return { users, agencies: agencyCols.has('id') && agencyCols.has('name'), missing: users.size ? want.filter((c) => !users.has(c)) : ['the users table itself'] };
}

/** The host features `db status` reports, by name. */
export function optionalFeatures(c: DeviseColumns, s: DeviseSettings): Record<string, boolean> {
  const has = (...cols: string[]) => cols.every((x) => c.users.has(x));
  return {
    names: has('first_name') || has('last_name'),
    phone: has('phone'),
    agency: has('agency_id') && c.agencies,
    activeFlag: Boolean(s.active) && has(s.active!.column),
    confirmable: has(...CONFIRMABLE),
    softDelete: has('deleted_at'),
    unlockToken: has('unlock_token'),
    trackable: has('current_sign_in_at'),
    invitable: has('invitation_token'),
  };
}

/** A quoted SQL identifier for a column name from configuration or the catalogue. */
export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Reading a host timestamp as timestamptz; writing a JS instant into one. */
export function timeIO(c: DeviseColumns) {
  return {
    read: (col: string) => (c.users.get(col)?.naive ? `(u.${ident(col)} at time zone 'utc')` : `u.${ident(col)}`),
    /** An SQL expression for a bound ISO instant, in the column's own type. */
    write: (col: string) => (c.users.get(col)?.naive ? `(?::timestamptz at time zone 'utc')` : '?::timestamptz'),
    /** An instant inlined (generated from a Date, so safe) in the column's own type. */
    literal: (col: string, at: Date) => (c.users.get(col)?.naive ? `('${at.toISOString()}'::timestamptz at time zone 'utc')` : `'${at.toISOString()}'::timestamptz`),
  };
}
