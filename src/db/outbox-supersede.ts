/**
 * One live reset message per person: a newer reset message for the same account supersedes every older
 * one, whatever state the older one is in. `reset send` uses this after a deferred attempt (its row went
 * back to pending while a newer send ran), and the reset minter at delivery (a flush must never deliver a
 * superseded message: its link would replace the newer one the person should use).
 */
import type { Knex } from 'knex';
import type { MailKind } from '../mail/types.js';

/** The cancellation text wasCancelled (src/db/outbox.ts) recognises. */
export const SUPERSEDED_ERROR = 'cancelled: a newer reset link was sent';

/** True when a newer message of this kind exists for the account (by outbox id, which grows with time). */
export async function hasNewer(db: Knex | Knex.Transaction, userId: number, kind: MailKind, id: number): Promise<boolean> {
  return Boolean(await db('mail_outbox').where({ user_id: userId, kind }).where('id', '>', id).first('id'));
}

/**
 * Cancel this still-pending row when a newer one of its kind exists (call under the account's row lock,
 * which every send takes, so a newer send either committed before or finds this row pending and cancels it).
 * True when it was cancelled.
 */
export async function cancelIfSuperseded(trx: Knex.Transaction, userId: number, kind: MailKind, id: number): Promise<boolean> {
  if (!(await hasNewer(trx, userId, kind, id))) return false;
  return Number(await trx('mail_outbox').where({ id, status: 'pending' }).update({ status: 'failed', last_error: SUPERSEDED_ERROR })) > 0;
}
