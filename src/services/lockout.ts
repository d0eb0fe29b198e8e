/**
 * Unlocking and locking accounts. Each change is one conditional UPDATE and its audit row in one
 * transaction, so two administrators acting at once produce one change and one audit row.
 */
import type { Knex } from 'knex';
import type { AppContext } from '../context.js';
import { accountQuery, findAccountById, normalise, type AccountRow } from '../db/accounts.js';
import { pageById } from '../db/paging.js';
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
  },
): Promise<Outcome> {
  const { knex } = await ctx.db();
  const now = ctx.clock();
  if (opts.dryRun) {
    const row = await findAccountById(knex, user.id);
    if (!row) return { user: user.username, outcome: 'not_found', message: 'the account no longer exists' };
    if (!row.locked_at) return { user: row.username, outcome: 'not_locked', message: 'not locked; nothing to do' };
    if (row.lock_reason === 'agreement_expired') return refusal(knex, row);
    return { user: row.username, outcome: 'would_unlock', message: `would unlock (locked: ${row.lock_reason ?? 'unknown reason'})` };
  }

  let outboxId: number | undefined;
  const changed = await knex.transaction(async (trx) => {
    // The CTE locks the row first, so a second unlock waits, then sees it unlocked and changes nothing.
    const rows = (await trx.raw(
      `with old as (select id, lock_reason, failed_login_attempts from users where id = ? for update)
       update users u set locked_at = null, lock_reason = null, failed_login_attempts = 0, updated_at = ?
       from old
       where u.id = old.id and u.locked_at is not null and u.lock_reason is distinct from 'agreement_expired'
       returning u.id, u.username, u.email, u.first_name, u.last_name, u.account_expires_at,
                 old.lock_reason as old_reason, old.failed_login_attempts as old_attempts`,
      [user.id, now],
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
    return { user: row.username, outcome: 'not_locked', message: 'not locked; nothing to do' };
  }
  const parts = [`unlocked (was locked: ${changed.old_reason ?? 'unknown reason'}; failed logins reset from ${Number(changed.old_attempts)} to 0)`];
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

/** An administrator's lock (reason 'admin'); the free-text reason goes to the audit trail. */
export async function lockAccount(
  ctx: AppContext,
  user: AccountRow,
  opts: { reason: string; ticket?: string | null; dryRun?: boolean },
): Promise<Outcome> {
  const { knex } = await ctx.db();
  const now = ctx.clock();
  if (opts.dryRun) {
    const row = await findAccountById(knex, user.id);
    if (row?.locked_at) return alreadyLocked(row);
    return { user: user.username, outcome: 'would_lock', message: `would lock (admin: ${opts.reason})` };
  }
  const done = await knex.transaction(async (trx) => {
    const rows = (await trx('users')
      .where('id', user.id)
      .whereNull('locked_at')
      .update({ locked_at: now, lock_reason: 'admin', updated_at: now })
      .returning(['id', 'username'])) as Array<{ id: number; username: string }>;
    if (!rows[0]) return false;
    await writeAudit(trx, { actor: ctx.config.actor, action: 'lock', userId: user.id, ticket: opts.ticket ?? null, details: { reason: 'admin', note: opts.reason } });
    return true;
  });
  if (done) return { user: user.username, outcome: 'locked', message: `locked by an administrator: ${opts.reason}` };
  const row = await findAccountById(knex, user.id);
  if (!row) return { user: user.username, outcome: 'not_found', message: 'the account no longer exists' };
  return alreadyLocked(row);
}

function alreadyLocked(row: AccountRow): Outcome {
  return {
    user: row.username,
    outcome: 'locked', // CONTRACT's outcome for the end state; the message says nothing changed
    message: `already locked (${row.lock_reason ?? 'unknown reason'}) since ${row.locked_at!.toISOString()}; nothing changed`,
  };
}

/** How many accounts are locked for `reason` (any reason but agreement_expired when unset) in an agency. */
export async function countLocked(db: Knex, f: { reason?: string; agencyId?: number }): Promise<number> {
  const q = db('users').whereNotNull('locked_at');
  if (f.reason) q.where('lock_reason', f.reason);
  else q.whereRaw("lock_reason is distinct from 'agreement_expired'");
  if (f.agencyId !== undefined) q.where('agency_id', f.agencyId);
  return Number(((await q.count({ n: '*' })) as Array<{ n: number | string }>)[0]!.n);
}

/** Locked accounts page by page on id (each unlock drops one out of the filter; the key keeps its place). */
export async function* lockedAccounts(db: Knex, f: { reason?: string; agencyId?: number }, pageSize = 500): AsyncGenerator<AccountRow> {
  const build = () => {
    const q = accountQuery(db, { locked: true, lockReason: f.reason, agencyId: f.agencyId });
    if (!f.reason) q.whereRaw("u.lock_reason is distinct from 'agreement_expired'");
    return q;
  };
  for await (const row of pageById<AccountRow>(build, 'u.id', 'asc', Infinity, pageSize)) yield normalise(row);
}
