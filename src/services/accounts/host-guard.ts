/**
 * The library functions for the web application (recordLoginFailure, redeemResetToken, confirmEmail) work on
 * hmis-admin's own tables. A Devise application does the same work itself — lockable counts failed logins,
 * reset_password_by_token redeems links, confirm_by_token confirms addresses — so on a Devise host they refuse
 * at once, saying so, instead of failing on a missing column or writing where Devise does not look.
 */
import type { Knex } from 'knex';

/** The error a library function throws on a Devise host. */
export class DeviseDoesThisError extends Error {
  constructor(fn: string, devise: string) {
    super(`${fn}: this database's accounts are a Devise users table (HMIS_SCHEMA=devise), and Devise does this itself (${devise}); do not call ${fn} there`);
    this.name = 'DeviseDoesThisError';
  }
}

// One catalogue look per connection pool: is `users` hmis-admin's own table?
const native = new WeakMap<Knex, Promise<boolean>>();

async function isNative(db: Knex): Promise<boolean> {
  let known = native.get(db);
  if (!known) {
    known = db
      .raw("select 1 from information_schema.columns where table_name::text = 'users' and column_name::text = 'failed_login_attempts' and table_schema::text = pg_catalog.current_schema()::text")
      .then((r: { rows: unknown[] }) => r.rows.length > 0);
    native.set(db, known);
  }
  return known;
}

/** Throws DeviseDoesThisError unless the accounts are hmis-admin's own (HMIS_SCHEMA=devise, or no native users table). */
export async function requireNativeHost(db: Knex, fn: string, devise: string, schema: string | undefined = process.env.HMIS_SCHEMA): Promise<void> {
  if (schema?.trim().toLowerCase() === 'devise' || !(await isNative(db))) throw new DeviseDoesThisError(fn, devise);
}
