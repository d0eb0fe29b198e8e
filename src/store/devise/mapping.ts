/**
 * A Devise `users` table as an account mapping (CONTRACT "Host schemas"): the login column names the
 * account; Devise lockable's `locked_at` (within `unlock_in`) is a failed-login lock; the host's active flag
 * off is an administrator's or an expired agreement's lock, whose reason, like the agreement expiry and the
 * supervisor, lives in the tool's own `hmis_admin.account_state`. Soft-deleted rows do not exist.
 */
import { ts, type SqlMapping } from '../sql/mapping.js';
import { ident, timeIO, type DeviseColumns, type DeviseSettings } from './host.js';

export interface DeviseSql {
  mapping: SqlMapping;
  /** The users table, schema-qualified. */
  users: string;
  /** `true` when the account may sign in as far as the active flag goes. */
  active: string;
  /** A Devise lockable lock still in force at `now`. */
  deviseLocked(now: Date): string;
  has(column: string): boolean;
}

export function deviseSql(c: DeviseColumns, s: DeviseSettings): DeviseSql {
  const has = (col: string) => c.users.has(col);
  const t = timeIO(c);
  const users = `${ident(s.schema)}."users"`;
  const withAgency = has('agency_id') && c.agencies;
  const from = `${users} u${withAgency ? ` left join ${ident(s.schema)}."agencies" a on a.id = u.agency_id` : ''} left join hmis_admin.account_state st on st.user_id = u.id`;
  const flag = s.active && has(s.active.column) ? `u.${ident(s.active.column)}` : null;
  // Devise: `active_for_authentication? = super && active` (nil is inactive); Primero: `!disabled` (nil may sign in).
  const active = !flag ? 'true' : s.active!.inverted ? `not coalesce(${flag}, false)` : `coalesce(${flag}, false)`;
  const deviseLocked = (now: Date) =>
    s.unlockAfterMs === null
      ? 'u.locked_at is not null'
      : `(u.locked_at is not null and ${t.read('locked_at')} > ${ts(now)} - interval '${Math.round(s.unlockAfterMs / 1000)} seconds')`;
  const confirmable = ['confirmation_token', 'confirmed_at', 'confirmation_sent_at', 'unconfirmed_email'].every(has);
  const nameOf = (col: string) => (has(col) ? `coalesce(u.${ident(col)}, '')` : col === 'first_name' && has('full_name') ? "coalesce(u.full_name, '')" : "''");
  const since = has('updated_at') ? t.read('updated_at') : 'null::timestamptz';
  const mapping: SqlMapping = {
    from,
    exists: has('deleted_at') ? ['u.deleted_at is null'] : [],
    fields: (now) => ({
      id: 'u.id',
      username: `u.${ident(s.login)}`,
      first_name: nameOf('first_name'),
      last_name: nameOf('last_name'),
      // Host columns are varchar: cast to text for pg_catalog's own functions (connection.ts searchPath says why).
      email: "nullif(pg_catalog.btrim((u.email)::text), '')",
      // A host that never confirms addresses has nothing unconfirmed: its addresses count as confirmed.
      email_verified_at: confirmable ? t.read('confirmed_at') : has('created_at') ? t.read('created_at') : 'null::timestamptz',
      pending_email: confirmable ? "nullif(pg_catalog.btrim((u.unconfirmed_email)::text), '')" : 'null',
      phone: has('phone') ? 'u.phone' : 'null',
      agency_id: has('agency_id') ? 'u.agency_id' : 'null',
      agency: withAgency ? 'a.name' : 'null',
      supervisor_id: 'st.supervisor_id',
      // Switched off by the application itself (no reason on record): since its last update, as an administrator's lock;
      // with no updated_at to say when, since an unknown time (-infinity, shown as null): still locked, still listed.
      locked_at: `case when not ${active} then coalesce(st.locked_at, ${since}, '-infinity'::timestamptz) when ${deviseLocked(now)} then ${t.read('locked_at')} end`,
      lock_reason: `case when not ${active} then coalesce(st.lock_reason, 'admin') when ${deviseLocked(now)} then 'failed_logins' end`,
      failed_login_attempts: 'u.failed_attempts',
      last_failed_login_at: 'null::timestamptz',
      account_expires_at: 'st.expires_at',
      last_login_at: has('current_sign_in_at') ? t.read('current_sign_in_at') : 'null::timestamptz',
      created_at: has('created_at') ? t.read('created_at') : 'null::timestamptz',
      // OpenPath refuses reset mail while an invitation is open; so do we (the person sets a password by accepting it).
      invitation_pending: has('invitation_token') ? `(u.invitation_token is not null${has('invitation_accepted_at') ? ' and u.invitation_accepted_at is null' : ''})` : 'false',
    }),
    locked: (now) => `(not ${active} or ${deviseLocked(now)})`,
    searchable: [
      `u.${ident(s.login)}`,
      'u.email',
      ...(has('first_name') && has('last_name') ? ["(coalesce(u.first_name, '') || ' ' || coalesce(u.last_name, ''))"] : has('full_name') ? ['u.full_name'] : []),
    ],
    agency: withAgency ? { table: `${s.schema}.agencies`, name: 'name' } : null,
  };
  return { mapping, users, active, deviseLocked, has };
}
