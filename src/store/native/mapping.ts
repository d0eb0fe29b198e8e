/** The tool's own `users` and `agencies` tables (CONTRACT "Database"): every field is a plain column. */
import type { SqlMapping } from '../sql/mapping.js';

export const nativeMapping: SqlMapping = {
  from: 'users u left join agencies a on a.id = u.agency_id',
  exists: [],
  fields: () => ({
    id: 'u.id',
    username: 'u.username',
    first_name: 'u.first_name',
    last_name: 'u.last_name',
    email: 'u.email',
    email_verified_at: 'u.email_verified_at',
    pending_email: 'null',
    phone: 'u.phone',
    agency_id: 'u.agency_id',
    agency: 'a.name',
    supervisor_id: 'u.supervisor_id',
    locked_at: 'u.locked_at',
    // A lock's reason is shown only while it is locked; a lock the web application set without one is a failed-login lock.
    lock_reason: "case when u.locked_at is not null then coalesce(u.lock_reason, 'failed_logins') end",
    failed_login_attempts: 'u.failed_login_attempts',
    last_failed_login_at: 'u.last_failed_login_at',
    account_expires_at: 'u.account_expires_at',
    last_login_at: 'u.last_login_at',
    created_at: 'u.created_at',
    invitation_pending: 'false',
  }),
  locked: () => 'u.locked_at is not null',
  searchable: ['u.username', "(u.first_name || ' ' || u.last_name)", 'u.email'],
  agency: { table: 'agencies', name: 'name' },
};
