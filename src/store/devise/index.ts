/**
 * The Devise account store: a Rails application's `users` table (OpenPath HMIS, Primero). It writes only
 * the Devise columns CONTRACT names — lockable (`locked_at`, `failed_attempts`, `unlock_token`), recoverable
 * (`reset_password_token`, `reset_password_sent_at`), confirmable (`unconfirmed_email`, `confirmation_*`,
 * `confirmed_at`), `email`, `phone` and the active flag — and never any DDL in the host's schema; what Devise has
 * no column for (lock reasons, agreement expiry, supervisor) is kept in `hmis_admin.account_state`.
 */
import type { Knex } from 'knex';
import { UsageError } from '../../errors.js';
import { ts } from '../sql/mapping.js';
import { SqlReader, type ChangedRow } from '../sql/reader.js';
import type { AccountContacts, AccountRow, AccountStore, AddressChange, AddressOwner, Changed, HostReport, LockReason, ResetHost, Tx, VerifyHost } from '../types.js';
import { ident, optionalFeatures, timeIO, type DeviseColumns, type DeviseSettings } from './host.js';
import { deviseSql, type DeviseSql } from './mapping.js';
import { deviseDigest, friendlyToken } from './token.js';

export class DeviseStore extends SqlReader implements AccountStore {
  readonly kind = 'devise' as const;
  readonly reconfirms: boolean;
  readonly canLock: boolean;
  private readonly sql: DeviseSql;
  private readonly t: ReturnType<typeof timeIO>;

  constructor(
    knex: Knex,
    clock: () => Date,
    private readonly settings: DeviseSettings,
    private readonly columns: DeviseColumns,
  ) {
    const sql = deviseSql(columns, settings);
    super(knex, sql.mapping, clock);
    this.sql = sql;
    this.t = timeIO(columns);
    const features = optionalFeatures(columns, settings);
    this.reconfirms = features.confirmable;
    this.canLock = features.activeFlag;
  }

  async describe(): Promise<HostReport> {
    const s = this.settings;
    return {
      schema: 'devise',
      table: `${s.schema}.users`,
      optional: optionalFeatures(this.columns, s),
      missing: this.columns.missing,
      settings: {
        HMIS_DEVISE_LOGIN: s.login,
        HMIS_DEVISE_ACTIVE: s.active ? `${s.active.inverted ? '!' : ''}${s.active.column}` : 'none',
        HMIS_DEVISE_KEY_DIGEST: s.keyDigest,
        HMIS_DEVISE_SECRET: s.secret ? 'set' : 'not set',
        HMIS_UNLOCK_AFTER: s.unlockAfterMs === null ? 'never' : `${Math.round(s.unlockAfterMs / 60_000)}m`,
        HMIS_RESET_TTL: `${Math.round(s.resetTtlMs / 60_000)}m`,
      },
    };
  }

  // -- links --

  private secret() {
    if (!this.settings.secret) {
      throw new UsageError(
        'HMIS_DEVISE_SECRET_FILE (or HMIS_DEVISE_SECRET) is not set: reset links for a Devise application are signed with its secret_key_base; put it in a file only you can read and set HMIS_DEVISE_SECRET_FILE to that file',
      );
    }
    return { secret: this.settings.secret, keyDigest: this.settings.keyDigest };
  }

  readonly reset: ResetHost = {
    // Devise.friendly_token makes 20; accept what an application configured longer.
    format: { param: 'reset_password_token', pattern: /^[A-Za-z0-9_-]{20,128}$/, shape: '20 or more characters' },
    newRaw: () => friendlyToken(20),
    digest: (raw) => deviseDigest(this.secret(), 'reset_password_token', raw),
    activate: async (tx, userId, digest, now) => {
      // One live link per user: Devise keeps one digest, so this replaces any link the application sent.
      await tx.raw(`update ${this.sql.users} u set reset_password_token = ?, reset_password_sent_at = ${this.t.write('reset_password_sent_at')} where u.id = ?`, [digest, now.toISOString(), userId]);
    },
    deactivate: async (tx, userId, digest) => {
      await tx.raw(`update ${this.sql.users} u set reset_password_token = null, reset_password_sent_at = null where u.id = ? and u.reset_password_token = ?`, [userId, digest]);
    },
    findLive: async (digest, now) => {
      const { rows } = (await this.knex.raw(
        `select u.id, ${this.t.read('reset_password_sent_at')} as sent from ${this.sql.users} u where u.reset_password_token = ? ${this.existsSql()}`,
        [digest],
      )) as { rows: Array<{ id: number | string; sent: Date | null }> };
      const r = rows[0];
      return r?.sent && r.sent.getTime() > now.getTime() - this.settings.resetTtlMs ? { userId: Number(r.id) } : undefined;
    },
    hostState: async (userId, digest, now) => {
      const { rows } = (await this.knex.raw(
        `select u.reset_password_token = ? as same, ${this.t.read('reset_password_sent_at')} as sent from ${this.sql.users} u where u.id = ?`,
        [digest, userId],
      )) as { rows: Array<{ same: boolean | null; sent: Date | null }> };
      const r = rows[0];
      return r?.same && r.sent && r.sent.getTime() > now.getTime() - this.settings.resetTtlMs ? 'live' : 'gone';
    },
  };

  readonly verify: VerifyHost = {
    format: { param: 'confirmation_token', pattern: /^[A-Za-z0-9_-]{20,128}$/, shape: '20 or more characters' },
    newRaw: () => friendlyToken(20),
    activate: async (tx, userId, address, raw, now) => {
      // Devise keeps the confirmation token raw; it confirms the pending address, or a never-confirmed current one.
      const { rows } = (await tx.raw(
        `update ${this.sql.users} u set confirmation_token = ?, confirmation_sent_at = ${this.t.write('confirmation_sent_at')}
         where u.id = ? ${this.existsSql()}
           and (pg_catalog.lower(pg_catalog.btrim((u.unconfirmed_email)::text)) = pg_catalog.lower(?::text)
             or (coalesce(pg_catalog.btrim((u.unconfirmed_email)::text), '') = '' and pg_catalog.lower(pg_catalog.btrim((u.email)::text)) = pg_catalog.lower(?::text) and u.confirmed_at is null))
         returning u.id`,
        [raw, now.toISOString(), userId, address, address],
      )) as { rows: unknown[] };
      return rows.length === 1;
    },
    deactivate: async (tx, userId, raw) => {
      await tx.raw(`update ${this.sql.users} u set confirmation_token = null where u.id = ? and u.confirmation_token = ?`, [userId, raw]);
    },
  };

  // -- reading --

  async contacts(accounts: AccountRow[], db: Knex | Tx = this.knex): Promise<Map<number, AccountContacts>> {
    const supIds = [...new Set(accounts.map((r) => r.supervisor_id).filter((x): x is number => x !== null))];
    const agIds = [...new Set(accounts.map((r) => r.agency_id).filter((x): x is number => x !== null))];
    const sups = new Map<number, AccountContacts['supervisor']>();
    const found = supIds.length ? await this.accounts({ ids: supIds }, db) : [];
    for (const s of found) {
      sups.set(s.id, { id: s.id, username: s.username, name: `${s.first_name} ${s.last_name}`.trim(), email: s.email });
    }
    const dirs = agIds.length
      ? ((await db('hmis_admin.agency_contacts').whereIn('agency_id', agIds).select('agency_id', 'executive_director_name as name', 'executive_director_email as email')) as Array<{
          agency_id: number | string;
          name: string | null;
          email: string | null;
        }>)
      : [];
    const byAgency = new Map(dirs.map((d) => [Number(d.agency_id), { name: d.name, email: d.email }]));
    return new Map(accounts.map((r) => [r.id, { supervisor: (r.supervisor_id && sups.get(r.supervisor_id)) || null, director: (r.agency_id && byAgency.get(r.agency_id)) || null }]));
  }

  /**
   * Every row holding the address, soft-deleted ones too: the host's unique index (plain, or OpenPath's on live
   * rows) and Rails' uniqueness validation (which ignores acts_as_paranoid's scope) both see them. Compared as
   * OpenPath's index is built, btrim(lower(email)), so it can be used.
   */
  override async addressOwners(email: string, exceptId: number | undefined, db: Knex | Tx = this.knex): Promise<AddressOwner[]> {
    const pending = this.reconfirms ? 'pg_catalog.btrim(pg_catalog.lower((u.unconfirmed_email)::text)) = pg_catalog.btrim(pg_catalog.lower(?::text))' : 'false';
    const deleted = this.sql.has('deleted_at') ? 'u.deleted_at is not null' : 'false';
    const { rows } = (await db.raw(
      `select u.id, u.${ident(this.settings.login)} as username, ${pending} as pending, ${deleted} as deleted from ${this.sql.users} u
       where (pg_catalog.btrim(pg_catalog.lower((u.email)::text)) = pg_catalog.btrim(pg_catalog.lower(?::text)) or ${pending}) and u.id <> ? order by u.id limit 10`,
      [...(this.reconfirms ? [email] : []), email, ...(this.reconfirms ? [email] : []), exceptId ?? 0],
    )) as { rows: Array<{ id: number | string; username: string | null; pending: boolean; deleted: boolean }> };
    return rows.map((r) => ({ id: Number(r.id), username: r.username ?? `#${r.id}`, pending: r.pending, deleted: r.deleted }));
  }

  // -- writing --

  /** A write the host's own unique indexes may refuse: exit 2 in one line naming the index, never the SQL. */
  private async hostWrite<T>(what: string, write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (err) {
      const e = err as { code?: string; constraint?: string; detail?: string };
      if (e.code !== '23505') throw err;
      const cols = /^Key \((.*?)\)=/.exec(e.detail ?? '')?.[1];
      throw new UsageError(
        `the web application's database refused ${what}: its unique index ${e.constraint ?? '(unnamed)'}${cols ? ` on ${cols}` : ''} already holds that value for another account; give this account a different one (nothing was changed)`,
      );
    }
  }

  private existsSql(): string {
    return this.sql.has('deleted_at') ? 'and u.deleted_at is null' : '';
  }

  private activeSet(on: boolean): string {
    const a = this.settings.active!;
    return `${ident(a.column)} = ${on !== a.inverted}`;
  }

  private touch(now: Date): string {
    return this.sql.has('updated_at') ? `, updated_at = ${this.t.literal('updated_at', now)}` : '';
  }

  async lockRow(tx: Tx, id: number): Promise<AccountRow | undefined> {
    await tx.raw(`select u.id from ${this.sql.users} u where u.id = ?::bigint for update`, [id]);
    return this.findById(id, tx);
  }

  async unlock(tx: Tx, ids: number[], reasons: readonly LockReason[], now: Date): Promise<Changed[]> {
    if (!ids.length) return [];
    const f = this.map.fields(now);
    // What Devise's unlock_access! writes, and for an administrator's or agreement lock the active flag back on.
    const unlockToken = this.sql.has('unlock_token') ? ', unlock_token = null' : '';
    // An inactive account's reason is never failed_logins, so switching the flag on lifts only the locks chosen.
    const reactivate = this.canLock ? `, ${this.activeSet(true)}` : '';
    const rows = (await tx.raw(
      `with old as (
         select u.id, ${f.lock_reason} as reason, u.failed_attempts from ${this.map.from}
         where u.id = any(?::bigint[]) ${this.existsSql()} and ${this.map.locked(now)} for update of u)
       update ${this.sql.users} u set locked_at = null, failed_attempts = 0${unlockToken}${reactivate}${this.touch(now)}
       from old where u.id = old.id and old.reason = any(?::text[])
       returning u.id, old.reason as old_reason, old.failed_attempts as old_attempts`,
      [ids, [...reasons]],
    )).rows as ChangedRow[];
    const changed = rows.map((r) => Number(r.id));
    if (changed.length) await tx('hmis_admin.account_state').whereIn('user_id', changed).update({ lock_reason: null, locked_at: null, updated_at: now });
    return this.changed(tx, rows);
  }

  async adminLock(tx: Tx, id: number, now: Date): Promise<Changed | undefined> {
    this.requireFlag('an administrator lock');
    const f = this.map.fields(now);
    const rows = (await tx.raw(
      `with old as (select u.id, ${f.lock_reason} as reason, u.failed_attempts from ${this.map.from} where u.id = ?::bigint ${this.existsSql()} for update of u)
       update ${this.sql.users} u set ${this.activeSet(false)}${this.touch(now)}
       from old where u.id = old.id and old.reason is distinct from 'admin'
       returning u.id, old.reason as old_reason, old.failed_attempts as old_attempts`,
      [id],
    )).rows as ChangedRow[];
    if (!rows.length) return undefined;
    await this.setState(tx, [id], { lock_reason: 'admin', locked_at: now }, now);
    return (await this.changed(tx, rows))[0];
  }

  async expire(tx: Tx, now: Date, which: { ids: number[] } | { afterId: number; limit: number }): Promise<Changed[]> {
    this.requireFlag('locking accounts whose agreement expired');
    const f = this.map.fields(now);
    const scope = 'ids' in which ? 'and u.id = any(?::bigint[]) order by u.id' : 'and u.id > ? order by u.id limit ?';
    const args = 'ids' in which ? [which.ids] : [which.afterId, which.limit];
    // Rows another run holds are skipped, not waited for; a re-run finishes the job.
    const rows = (await tx.raw(
      `with pick as (
         select u.id, u.failed_attempts from ${this.map.from}
         where not ${this.map.locked(now)} and ${f.account_expires_at} <= ${ts(now)} ${this.existsSql()} ${scope}
         for update of u skip locked)
       update ${this.sql.users} u set ${this.activeSet(false)}${this.touch(now)}
       from pick where u.id = pick.id
       returning u.id, null as old_reason, pick.failed_attempts as old_attempts`,
      args,
    )).rows as ChangedRow[];
    if (rows.length) await this.setState(tx, rows.map((r) => Number(r.id)), { lock_reason: 'agreement_expired', locked_at: now }, now);
    return this.changed(tx, rows);
  }

  async renew(tx: Tx, id: number, expiresAt: Date, now: Date): Promise<{ lifted: boolean; lockReason: LockReason | null }> {
    const before = await this.lockRow(tx, id);
    await this.setState(tx, [id], { expires_at: expiresAt }, now);
    let lifted = false;
    if (before?.lock_reason === 'agreement_expired' && this.canLock) {
      await tx.raw(`update ${this.sql.users} u set ${this.activeSet(true)}${this.touch(now)} where u.id = ?`, [id]);
      await tx('hmis_admin.account_state').where('user_id', id).update({ lock_reason: null, locked_at: null });
      lifted = true;
    }
    const after = await this.findById(id, tx);
    return { lifted, lockReason: after?.lock_reason ?? null };
  }

  async setAddress(tx: Tx, id: number, c: AddressChange): Promise<boolean> {
    const sets: string[] = [];
    const args: Knex.RawBinding[] = [];
    if (c.verified || !this.reconfirms) {
      sets.push('email = ?');
      args.push(c.email);
      if (this.reconfirms) sets.push(`confirmed_at = ${this.t.write('confirmed_at')}`, 'unconfirmed_email = null', 'confirmation_token = null'), args.push(c.now.toISOString());
    } else {
      // Reconfirmable: the account keeps its address until the person follows the link sent to the new one.
      sets.push('unconfirmed_email = ?', 'confirmation_token = null');
      args.push(c.email);
    }
    // Devise's clear_reset_password_token when the address changes: no link, ours or the application's, outlives it.
    sets.push('reset_password_token = null', 'reset_password_sent_at = null');
    if (c.phone !== undefined && this.sql.has('phone')) sets.push('phone = ?'), args.push(c.phone);
    const { rows } = await this.hostWrite('the address', () =>
      tx.raw(
        `update ${this.sql.users} u set ${sets.join(', ')}${this.touch(c.now)} where u.id = ? ${this.existsSql()} and u.email is not distinct from ? returning u.id`,
        [...args, id, c.expectedEmail ?? ''],
      ) as Promise<{ rows: unknown[] }>,
    );
    return rows.length === 1;
  }

  async setPhone(tx: Tx, id: number, phone: string, now: Date): Promise<void> {
    if (!this.sql.has('phone')) throw new UsageError("the host's users table has no phone column; record the phone number in the web application");
    await this.hostWrite('the phone number', () => tx.raw(`update ${this.sql.users} u set phone = ?${this.touch(now)} where u.id = ?`, [phone, id]));
  }

  async markVerified(tx: Tx, id: number, now: Date): Promise<void> {
    if (!this.reconfirms) return;
    await tx.raw(`update ${this.sql.users} u set confirmed_at = ${this.t.write('confirmed_at')}${this.touch(now)} where u.id = ?`, [now.toISOString(), id]);
  }

  private requireFlag(what: string): void {
    if (!this.canLock) {
      throw new UsageError(
        `${what} needs the host's active flag, and HMIS_DEVISE_ACTIVE says there is none (or the column is missing); set HMIS_DEVISE_ACTIVE to the column (active, or !disabled), or lock the account in the web application`,
      );
    }
  }

  private async setState(tx: Tx, ids: number[], values: Record<string, unknown>, now: Date): Promise<void> {
    await tx('hmis_admin.account_state')
      .insert(ids.map((user_id) => ({ user_id, ...values, updated_at: now })))
      .onConflict('user_id')
      .merge({ ...values, updated_at: now });
  }
}
