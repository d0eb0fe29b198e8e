/**
 * Unlocking and locking accounts. Each change is one conditional UPDATE and its audit row in one
 * transaction, so two administrators acting at once produce one change and one audit row.
 */
import type { Knex } from 'knex';
import type { AppContext } from '../context.js';
import { accountQuery, findAccountById, normalise, type AccountRow } from '../db/accounts.js';
import { pageById } from '../db/paging.js';
import { when } from '../output/format.js';
import type { Outcome } from '../output/views.js';
import { fullName } from './accounts.js';
import { writeAudit } from './audit.js';
import { ymd } from './days.js';
import { currentAgreement, missingSignatures, type Signer } from './detail.js';
import { deliverNotices, deliveryNote, queueNotice } from './notices.js';

interface Previous {
  id: number;
  username: string;
  email: string | null;
  first_name: string;
  last_name: string;
  account_expires_at: Date | null;
  old_reason: string | null;
  old_attempts: number;
}

/** The commands (each in backticks) that record the signatures an expired agreement still lacks. */
export function signCommand(username: string, missing: Signer[]): string {
  const roles = missing.length ? missing : (['user', 'supervisor', 'director'] as Signer[]);
  return roles.map((r) => `\`hmis-admin agreement sign ${username} --by ${r}\``).join(', ');
}

/** Why an agreement_expired lock cannot be lifted here, naming the signatures that would lift it. */
async function refusal(db: Knex, user: AccountRow): Promise<Outcome> {
  const pending = await currentAgreement(db, user.id);
  const missing = pending && !pending.completed_at ? missingSignatures(pending) : (['user', 'supervisor', 'director'] as Signer[]);
  return {
    user: user.username,
    outcome: 'refused',
    message:
      `locked because the user agreement expired on ${ymd(user.account_expires_at)}; unlock renews nothing. ` +
      `Missing signatures: ${missing.join(', ')}; record them with ${signCommand(user.username, missing)} (the last one lifts the lock)`,
  };
}

/** What `unlock --all` chose: one lock reason, or (none given) every reason but agreement_expired and admin. */
export interface BulkFilter {
  reason?: string;
  agencyId?: number;
}

/** A lock that `unlock --all` did not choose (it changed while the run went): left alone, and said so. */
function leftAlone(row: AccountRow, only: BulkFilter | undefined): Outcome | undefined {
  if (!only || !row.locked_at) return undefined;
  const reason = row.lock_reason ?? 'unknown reason';
  if (only.reason === undefined && row.lock_reason === 'admin') {
    return {
      user: row.username,
      outcome: 'refused',
      message: `locked by an administrator since ${when(row.locked_at)}; \`unlock --all\` leaves admin locks alone: unlock it by name (\`hmis-admin unlock ${row.username}\`) or with --reason admin`,
    };
  }
  if (only.reason !== undefined && row.lock_reason !== only.reason) {
    return { user: row.username, outcome: 'refused', message: `now locked for ${reason}, not ${only.reason}, since ${when(row.locked_at)}; left alone` };
  }
  return undefined;
}

/** Unlock one account: clears locked_at, lock_reason and the failed-login counter together. */
export async function unlockAccount(
  ctx: AppContext,
  user: AccountRow,
  opts: {
    ticket?: string | null;
    notify?: boolean;
    dryRun?: boolean;
    /** Bulk runs: take the notice's outbox id and deliver many at once (the message then says nothing of delivery). */
    deferDelivery?: (outboxId: number) => void;
    /** `unlock --all`: unlock only a lock this run chose, re-checked in the UPDATE (the lock may change meanwhile). */
    only?: BulkFilter;
  },
): Promise<Outcome> {
  const { knex } = await ctx.db();
  const now = ctx.clock();
  if (opts.dryRun) {
    const row = await findAccountById(knex, user.id);
    if (!row) return { user: user.username, outcome: 'not_found', message: 'the account no longer exists' };
    if (!row.locked_at) return { user: row.username, outcome: 'not_locked', message: 'nothing to do' };
    if (row.lock_reason === 'agreement_expired') return refusal(knex, row);
    const left = leftAlone(row, opts.only);
    if (left) return left;
    return { user: row.username, outcome: 'would_unlock', message: `locked: ${row.lock_reason ?? 'unknown reason'}` };
  }
  const only = opts.only ? { reason: opts.only.reason ?? null, keepAdmin: opts.only.reason === undefined } : { reason: null, keepAdmin: false };

  let outboxId: number | undefined;
  const changed = await knex.transaction(async (trx) => {
    // The CTE locks the row first, so a second unlock waits, then sees it unlocked and changes nothing.
    const rows = (await trx.raw(
      `with old as (select id, lock_reason, failed_login_attempts from users where id = ? for update)
       update users u set locked_at = null, lock_reason = null, failed_login_attempts = 0, updated_at = ?
       from old
       where u.id = old.id and u.locked_at is not null and u.lock_reason is distinct from 'agreement_expired'
         and (?::text is null or u.lock_reason = ?::text) and not (?::boolean and u.lock_reason is not distinct from 'admin')
       returning u.id, u.username, u.email, u.first_name, u.last_name, u.account_expires_at,
                 old.lock_reason as old_reason, old.failed_login_attempts as old_attempts`,
      [user.id, now, only.reason, only.reason, only.keepAdmin],
    )).rows as Previous[];
    const row = rows[0];
    if (!row) return undefined;
    await writeAudit(trx, {
      actor: ctx.config.actor,
      action: 'unlock',
      userId: row.id,
      ticket: opts.ticket ?? null,
      details: { previousReason: row.old_reason, failedLoginAttempts: Number(row.old_attempts), notify: Boolean(opts.notify) },
    });
    if (opts.notify && row.email) {
      outboxId = await queueNotice(trx, ctx, {
        kind: 'notice',
        userId: row.id,
        to: row.email,
        subject: 'Your HMIS account is open again',
        greeting: `Hello ${fullName(row) || row.username},`,
        paragraphs: [
          `Your HMIS account (${row.username}) was locked and has now been unlocked by an administrator. You can sign in again.`,
          'If you do not remember your password, use "Forgot password" on the HMIS sign-in page before you try again: after 3 failed attempts the account locks again.',
          'If you did not ask for this, tell your HMIS administrator.',
        ],
        ticket: opts.ticket ?? null,
      });
    }
    return row;
  });

  if (!changed) {
    const row = await findAccountById(knex, user.id);
    if (!row) return { user: user.username, outcome: 'not_found', message: 'the account no longer exists' };
    if (row.locked_at && row.lock_reason === 'agreement_expired') return refusal(knex, row);
    if (row.locked_at) return leftAlone(row, opts.only) ?? { user: row.username, outcome: 'failed', message: 'the account is still locked; try again' };
    return { user: row.username, outcome: 'not_locked', message: 'nothing to do' };
  }
  const parts = [`was locked: ${changed.old_reason ?? 'unknown reason'}; failed logins reset from ${Number(changed.old_attempts)} to 0`];
  if (opts.notify) {
    if (!changed.email) parts.push('no email address on file, so the user was not told');
    else if (opts.deferDelivery) opts.deferDelivery(outboxId!);
    else parts.push(deliveryNote('notice', (await deliverNotices(ctx, [outboxId!])).get(outboxId!)));
  }
  if (changed.account_expires_at && changed.account_expires_at.getTime() <= now.getTime()) {
    parts.push(`note: the agreement expired on ${ymd(changed.account_expires_at)}, so the next \`hmis-admin expire\` run locks it again`);
  }
  return { user: changed.username, outcome: 'unlocked', message: parts.join('; ') };
}

/**
 * An administrator's lock (reason 'admin'), whatever lock was there before: it replaces a
 * failed-login or agreement lock so that no bulk unlock of those reasons reopens the account.
 * The text, the previous reason and the ticket go to the audit row in the same transaction.
 */
export async function lockAccount(
  ctx: AppContext,
  user: AccountRow,
  opts: { reason: string; ticket?: string | null; dryRun?: boolean },
): Promise<Outcome> {
  const { knex } = await ctx.db();
  const now = ctx.clock();
  if (opts.dryRun) {
    const row = await findAccountById(knex, user.id);
    if (!row) return { user: user.username, outcome: 'not_found', message: 'the account no longer exists' };
    if (row.locked_at && row.lock_reason === 'admin') return alreadyLocked(row);
    return { user: row.username, outcome: 'would_lock', message: `by an administrator: ${opts.reason}${replaced(row.locked_at, row.lock_reason)}` };
  }
  const done = await knex.transaction(async (trx) => {
    // The CTE locks the row first, so of two administrators locking at once one changes it and one finds it admin-locked.
    const rows = (await trx.raw(
      `with old as (select id, locked_at, lock_reason from users where id = ? for update)
       update users u set locked_at = ?, lock_reason = 'admin', updated_at = ?
       from old
       where u.id = old.id and not (old.locked_at is not null and old.lock_reason is not distinct from 'admin')
       returning u.id, old.locked_at as old_locked_at, old.lock_reason as old_reason`,
      [user.id, now, now],
    )).rows as Array<{ id: number; old_locked_at: Date | null; old_reason: string | null }>;
    const row = rows[0];
    if (!row) return undefined;
    const previous = row.old_locked_at ? row.old_reason ?? 'unknown' : null;
    await writeAudit(trx, {
      actor: ctx.config.actor,
      action: 'lock',
      userId: user.id,
      ticket: opts.ticket ?? null,
      details: { reason: 'admin', note: opts.reason, previousReason: previous, previousLockedAt: row.old_locked_at ? new Date(row.old_locked_at).toISOString() : null },
    });
    return row;
  });
  if (done) return { user: user.username, outcome: 'locked', message: `by an administrator: ${opts.reason}${replaced(done.old_locked_at, done.old_reason)}` };
  const row = await findAccountById(knex, user.id);
  if (!row) return { user: user.username, outcome: 'not_found', message: 'the account no longer exists' };
  if (!row.locked_at) return { user: row.username, outcome: 'failed', message: 'another administrator unlocked it while this ran; run the lock again' };
  return alreadyLocked(row);
}

/** How the message names a lock the administrator's lock took over. */
function replaced(lockedAt: Date | null, reason: string | null): string {
  if (!lockedAt) return '';
  return ` (replaces the ${reason ?? 'unknown-reason'} lock of ${when(lockedAt)}, so unlocking that reason no longer opens it)`;
}

function alreadyLocked(row: AccountRow): Outcome {
  return {
    user: row.username,
    outcome: 'locked', // CONTRACT's outcome for the end state; the message says nothing changed
    message: `already locked by an administrator since ${when(row.locked_at)}; nothing changed`,
  };
}

/** Locks `unlock --all` leaves alone unless --reason names them: agreements need signatures, admin locks a deliberate unlock. */
export const KEPT_BY_DEFAULT = ['agreement_expired', 'admin'] as const;

/** How many accounts are locked for `reason` (when unset: any reason but those kept by default) in an agency. */
export async function countLocked(db: Knex, f: BulkFilter): Promise<number> {
  const q = db('users').whereNotNull('locked_at');
  if (f.reason) q.where('lock_reason', f.reason);
  else q.where((w) => w.whereNull('lock_reason').orWhereNotIn('lock_reason', [...KEPT_BY_DEFAULT]));
  if (f.agencyId !== undefined) q.where('agency_id', f.agencyId);
  return Number(((await q.count({ n: '*' })) as Array<{ n: number | string }>)[0]!.n);
}

/** Locked accounts page by page on id (each unlock drops one out of the filter; the key keeps its place). */
export async function* lockedAccounts(db: Knex, f: BulkFilter, pageSize = 500): AsyncGenerator<AccountRow> {
  const build = () => {
    const q = accountQuery(db, { locked: true, lockReason: f.reason, agencyId: f.agencyId });
    if (!f.reason) q.where((w) => w.whereNull('u.lock_reason').orWhereNotIn('u.lock_reason', [...KEPT_BY_DEFAULT]));
    return q;
  };
  for await (const row of pageById<AccountRow>(build, 'u.id', 'asc', Infinity, pageSize)) yield normalise(row);
}
