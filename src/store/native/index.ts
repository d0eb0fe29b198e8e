/**
 * The native account store: hmis-admin's own tables. Every write is one conditional statement under the
 * rows' locks (`… for update`, then `update … where <condition still holds> returning`), so two
 * administrators, or two cron hosts, acting at once change each account once.
 */
import type { Knex } from 'knex';
import { hashToken, NATIVE_TOKEN, newToken } from '../../services/links/tokens.js';
import { SqlReader, type ChangedRow } from '../sql/reader.js';
import type { AccountContacts, AccountRow, AccountStore, AddressChange, Changed, HostReport, LockReason, ResetHost, Tx, VerifyHost } from '../types.js';
import { nativeMapping } from './mapping.js';

export class NativeStore extends SqlReader implements AccountStore {
  readonly kind = 'native' as const;
  readonly reconfirms = false;
  readonly canLock = true;

  constructor(knex: Knex, clock: () => Date) {
    super(knex, nativeMapping, clock);
  }

  readonly reset: ResetHost = {
    format: NATIVE_TOKEN,
    newRaw: () => newToken().raw,
    digest: hashToken,
    // The history row (password_reset_tokens) is the link: nothing else on the host to switch on or off.
    activate: async () => {},
    deactivate: async () => {},
    findLive: async () => undefined,
    hostState: async () => 'ours',
  };

  readonly verify: VerifyHost = {
    format: NATIVE_TOKEN,
    newRaw: () => newToken().raw,
    activate: async (tx, userId, address) => {
      const row = (await tx('users').where('id', userId).forUpdate().first('email')) as { email: string | null } | undefined;
      return row?.email === address;
    },
    deactivate: async () => {},
  };

  async describe(): Promise<HostReport> {
    return { schema: 'native', table: 'users', optional: {}, missing: [], settings: {} };
  }

  async contacts(accounts: AccountRow[], db: Knex | Tx = this.knex): Promise<Map<number, AccountContacts>> {
    const supIds = [...new Set(accounts.map((r) => r.supervisor_id).filter((x): x is number => x !== null))];
    const agIds = [...new Set(accounts.map((r) => r.agency_id).filter((x): x is number => x !== null))];
    const sups = supIds.length
      ? ((await db('users').whereIn('id', supIds).select('id', 'username', 'email', 'first_name', 'last_name')) as Array<{ id: number; username: string; email: string | null; first_name: string; last_name: string }>)
      : [];
    const dirs = agIds.length
      ? ((await db('agencies').whereIn('id', agIds).select('id', 'executive_director_email as email', 'executive_director_name as name')) as Array<{ id: number; email: string | null; name: string | null }>)
      : [];
    const bySup = new Map(sups.map((s) => [Number(s.id), { id: Number(s.id), username: s.username, name: `${s.first_name} ${s.last_name}`.trim(), email: s.email }]));
    const byAgency = new Map(dirs.map((d) => [Number(d.id), { name: d.name, email: d.email }]));
    return new Map(
      accounts.map((r) => [r.id, { supervisor: (r.supervisor_id && bySup.get(r.supervisor_id)) || null, director: (r.agency_id && byAgency.get(r.agency_id)) || null }]),
    );
  }

  async lockRow(tx: Tx, id: number): Promise<AccountRow | undefined> {
    await tx('users').where('id', id).forUpdate().first('id');
    return this.findById(id, tx);
  }

  async unlock(tx: Tx, ids: number[], reasons: readonly LockReason[], now: Date): Promise<Changed[]> {
    if (!ids.length) return [];
    // The CTE locks the rows first: a concurrent unlock waits, then sees them unlocked and changes nothing.
    // A lock without a recorded reason was set by the web application: it counts as failed logins.
    const rows = (await tx.raw(
      `with old as (select id, lock_reason, failed_login_attempts from users where id = any(?::int[]) for update)
       update users u set locked_at = null, lock_reason = null, failed_login_attempts = 0, updated_at = ?
       from old
       where u.id = old.id and u.locked_at is not null and coalesce(old.lock_reason, 'failed_logins') = any(?::text[])
       returning u.id, old.lock_reason as old_reason, old.failed_login_attempts as old_attempts`,
      [ids, now, [...reasons]],
    )).rows as ChangedRow[];
    return this.changed(tx, rows);
  }

  async adminLock(tx: Tx, id: number, now: Date): Promise<Changed | undefined> {
    const rows = (await tx.raw(
      `with old as (select id, locked_at, lock_reason, failed_login_attempts from users where id = ? for update)
       update users u set locked_at = ?, lock_reason = 'admin', updated_at = ?
       from old
       where u.id = old.id and (old.locked_at is null or old.lock_reason is distinct from 'admin')
       returning u.id, case when old.locked_at is not null then coalesce(old.lock_reason, 'failed_logins') end as old_reason,
                 old.failed_login_attempts as old_attempts`,
      [id, now, now],
    )).rows as ChangedRow[];
    return (await this.changed(tx, rows))[0];
  }

  async expire(tx: Tx, now: Date, which: { ids: number[] } | { afterId: number; limit: number }): Promise<Changed[]> {
    const pick =
      'ids' in which
        ? tx.raw('select id from users where id = any(?::int[]) and locked_at is null and account_expires_at <= ? order by id for update skip locked', [which.ids, now])
        : tx.raw('select id from users where id > ? and locked_at is null and account_expires_at <= ? order by id limit ? for update skip locked', [which.afterId, now, which.limit]);
    // Locked rows are skipped, not waited for: a concurrent unlock or renewal decides them; a re-run finishes the job.
    const rows = (await tx.raw(
      `with pick as (${pick.toQuery()})
       update users u set locked_at = ?, lock_reason = 'agreement_expired', updated_at = ?
       from pick where u.id = pick.id and u.locked_at is null and u.account_expires_at <= ?
       returning u.id, null as old_reason, u.failed_login_attempts as old_attempts`,
      [now, now, now],
    )).rows as ChangedRow[];
    return this.changed(tx, rows);
  }

  async renew(tx: Tx, id: number, expiresAt: Date, now: Date): Promise<{ lifted: boolean; lockReason: LockReason | null }> {
    const rows = (await tx.raw(
      `with old as (select id, locked_at, lock_reason from users where id = ? for update)
       update users u set
         account_expires_at = ?,
         locked_at = case when old.lock_reason = 'agreement_expired' then null else old.locked_at end,
         lock_reason = case when old.lock_reason = 'agreement_expired' then null else old.lock_reason end,
         updated_at = ?
       from old where u.id = old.id
       returning (old.lock_reason = 'agreement_expired' and old.locked_at is not null) as lifted,
                 case when u.locked_at is not null then u.lock_reason end as lock_reason`,
      [id, expiresAt, now],
    )).rows as Array<{ lifted: boolean; lock_reason: LockReason | null }>;
    return { lifted: Boolean(rows[0]?.lifted), lockReason: rows[0]?.lock_reason ?? null };
  }

  async setAddress(tx: Tx, id: number, c: AddressChange): Promise<boolean> {
    const set: Record<string, unknown> = { updated_at: c.now, email: c.email, email_verified_at: c.verified ? c.now : null };
    if (c.phone !== undefined) set.phone = c.phone;
    // Compare-and-set on the address we read: a concurrent change is not silently overwritten.
    const n = await tx('users').where('id', id).whereRaw('email is not distinct from ?', [c.expectedEmail]).update(set);
    return Number(n) === 1;
  }

  async setPhone(tx: Tx, id: number, phone: string, now: Date): Promise<void> {
    await tx('users').where('id', id).update({ phone, updated_at: now });
  }

  async markVerified(tx: Tx, id: number, now: Date): Promise<void> {
    await tx('users').where('id', id).update({ email_verified_at: now, updated_at: now });
  }
}
