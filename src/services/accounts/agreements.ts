/**
 * User agreements: three signatures (user, supervisor, Executive Director) on the pending renewal;
 * the third renews the account. Each signature is a conditional UPDATE (`where <role>_signed_at is
 * null`), so two administrators recording the same signature produce one.
 */
import { userArg } from '../../output/format.js';
import type { Knex } from 'knex';
import type { AppContext } from '../../context.js';
import type { AccountRow, AccountStore } from '../../store/types.js';
import { UsageError } from '../../errors.js';
import { iso, when } from '../../output/format.js';
import type { Outcome } from '../../output/views.js';
import { fullName } from './accounts.js';
import { writeAudit } from './audit.js';
import { daysLeft, utcDayStart, ymd } from './days.js';
import { SIGNERS, type AgreementRow, type Signer } from './detail.js';
import { missingFor } from './expiry.js';
import { deliverNotices, deliveryNote, queueNotice } from '../notices/notices.js';

export interface AgreementView {
  user: string;
  status: 'pending' | 'none' | 'complete';
  expiresAt: string | null;
  daysLeft: number | null;
  termStartedAt: string | null;
  signatures: Record<Signer, { at: string | null; by: string | null }>;
  missingSignatures: Signer[];
  lastRenewal: { completedAt: string | null; renewedUntil: string | null } | null;
  supervisor: string | null;
  director: string | null;
  /** The commands that record what is missing. */
  next: string[];
}

type FullAgreement = AgreementRow & Record<`${Signer}_signed_by`, string | null>;

/** The pending renewal and the last completed one, with who signs for this account. */
export async function showAgreement(store: AccountStore, user: AccountRow, now: Date): Promise<AgreementView> {
  const db = store.knex;
  const pending = (await db('user_agreements').where('user_id', user.id).whereNull('completed_at').first()) as FullAgreement | undefined;
  const last = (await db('user_agreements').where('user_id', user.id).whereNotNull('completed_at').orderBy('completed_at', 'desc').first()) as FullAgreement | undefined;
  const contacts = (await store.contacts([user])).get(user.id);
  const sup = contacts?.supervisor;
  const expired = user.account_expires_at !== null && Date.parse(user.account_expires_at) <= now.getTime();
  const status = pending ? 'pending' : last && !expired ? 'complete' : 'none';
  // A completed renewal needs nothing now; the next one starts with its first signature.
  const missing = status === 'complete' ? [] : missingFor(pending);
  // Signatures of the renewal in progress, or of the one that made the account current.
  const shown = pending ?? (status === 'complete' ? last : undefined);
  const signatures = Object.fromEntries(
    SIGNERS.map((s) => [s, { at: iso(shown?.[`${s}_signed_at`]), by: shown?.[`${s}_signed_by`] ?? null }]),
  ) as AgreementView['signatures'];
  return {
    user: user.username,
    // "complete" means the last renewal is done and no new one has started and the account is not expired.
    status,
    expiresAt: iso(user.account_expires_at),
    daysLeft: user.account_expires_at ? daysLeft(new Date(user.account_expires_at), now) : null,
    termStartedAt: iso(shown?.term_started_at),
    signatures,
    missingSignatures: missing,
    lastRenewal: last ? { completedAt: iso(last.completed_at), renewedUntil: iso(last.renewed_until) } : null,
    supervisor: sup ? `${sup.username} (${sup.name})` : null,
    director: contacts?.director?.name ?? null,
    next: missing.map((s) => `hmis-admin agreement sign ${userArg(user)} --by ${s}`),
  };
}

export interface SignOptions {
  /** The roles that signed (each once); all are recorded in one transaction, or none. */
  by: Signer[];
  /** When the paper was signed; defaults to now. */
  at?: Date;
  ticket?: string | null;
  dryRun?: boolean;
}

class DryRun extends Error {
  constructor(readonly outcome: Outcome) {
    super('dry run');
  }
}

/** Record the given signatures in one transaction; the one completing the set renews the account. */
export async function signAgreement(ctx: AppContext, user: AccountRow, opts: SignOptions): Promise<Outcome> {
  const store = await ctx.store();
  const now = ctx.clock();
  const at = opts.at ?? now;
  if (at.getTime() > now.getTime()) throw new UsageError(`--date ${when(at)} is in the future; give the day the agreement was signed`);
  const roles = SIGNERS.filter((s) => opts.by.includes(s)); // the order of the form, whatever the order of the flags
  let outboxId: number | undefined;
  let result: Outcome;
  try {
    result = await store.knex.transaction(async (trx) => {
      // The pending renewal starts where the current term began: the last completion, or account creation.
      await trx.raw(
        `insert into user_agreements (user_id, term_started_at, created_at)
         select ?, coalesce((select max(completed_at) from user_agreements where user_id = ? and completed_at is not null), ?), ?
         on conflict (user_id) where completed_at is null do nothing`,
        [user.id, user.id, user.created_at ?? now, now],
      );
      let row: FullAgreement | undefined;
      for (const by of roles) {
        // One refused role (already signed, date before the term) rolls back every role given with it.
        row = await signOne(trx, ctx, user, by, at, opts.ticket ?? null);
      }
      const missing = missingFor(row);
      const signatures = `${roles.join(' and ')} signature${roles.length > 1 ? 's' : ''}`;
      const recorded = `${signatures} recorded (${ymd(at)})`;
      let outcome: Outcome;
      if (missing.length) {
        outcome = { user: user.username, outcome: 'signed', message: `${recorded}; still missing: ${missing.join(', ')}` };
      } else {
        const renewed = await renew(trx, ctx, store, user, row!, now, opts.ticket ?? null);
        outboxId = renewed.outboxId;
        outcome = { user: user.username, outcome: 'renewed', message: roles.length > 1 ? `${recorded}; ${renewed.message}` : renewed.message };
      }
      if (opts.dryRun) throw new DryRun({ ...outcome, outcome: `would_${outcome.outcome === 'signed' ? 'sign' : 'renew'}`, message: `would record the ${signatures} (${ymd(at)})${outcome.message.startsWith(recorded) ? outcome.message.slice(recorded.length) : `; ${outcome.message}`}` });
      return outcome;
    });
  } catch (err) {
    if (err instanceof DryRun) return err.outcome; // the transaction rolled back: nothing changed, nothing sent
    throw err;
  }
  if (outboxId) result.message += `; ${deliveryNote('notice', (await deliverNotices(ctx, [outboxId])).get(outboxId))}`;
  return result;
}

/** One role's signature: a conditional UPDATE and its own `agreement.sign` audit row; exit 2 when it cannot be recorded. */
async function signOne(trx: Knex.Transaction, ctx: AppContext, user: AccountRow, by: Signer, at: Date, ticket: string | null): Promise<FullAgreement> {
  const col = `${by}_signed_at`;
  const signed = (await trx('user_agreements')
    .where('user_id', user.id)
    .whereNull('completed_at')
    .whereNull(col)
    .where('term_started_at', '<=', at)
    .update({ [col]: at, [`${by}_signed_by`]: ctx.config.actor })
    .returning('*')) as FullAgreement[];
  const row = signed[0];
  if (!row) throw await whyNot(trx, user, by, at);
  await writeAudit(trx, {
    actor: ctx.config.actor,
    action: 'agreement.sign',
    userId: user.id,
    ticket,
    details: { by, signedAt: at.toISOString(), agreementId: Number(row.id) },
  });
  return row;
}

/** The exit-2 reason a signature was not recorded (the transaction rolls back the pending row it made). */
async function whyNot(trx: Knex.Transaction, user: AccountRow, by: Signer, at: Date): Promise<UsageError> {
  const row = (await trx('user_agreements').where('user_id', user.id).whereNull('completed_at').first()) as FullAgreement | undefined;
  if (row?.[`${by}_signed_at`]) {
    return new UsageError(
      `${user.username}'s renewal already has the ${by} signature (${ymd(row[`${by}_signed_at`])}, recorded by ${row[`${by}_signed_by`] ?? 'unknown'}); nothing changed. ` +
        `Still missing: ${missingFor(row).join(', ') || 'nothing'}`,
    );
  }
  if (row && at.getTime() < row.term_started_at.getTime()) {
    return new UsageError(`--date ${ymd(at)} is before ${user.username}'s current term began (${ymd(row.term_started_at)}); give the day it was signed`);
  }
  return new UsageError(`${user.username}'s renewal changed while signing; run \`hmis-admin agreement show ${userArg(user)}\` and try again`);
}

/** Complete the agreement and move the expiry: max(today, old expiry) + term; lift only an agreement_expired lock. */
async function renew(trx: Knex.Transaction, ctx: AppContext, store: AccountStore, user: AccountRow, row: FullAgreement, now: Date, ticket: string | null) {
  const old = (await store.lockRow(trx, user.id)) ?? user;
  const today = utcDayStart(now);
  // Milliseconds, not calendar days: the term is a whole number of days, so no time zone's DST moves it.
  const oldExpiry = old.account_expires_at === null ? NaN : Date.parse(old.account_expires_at);
  const base = oldExpiry > today.getTime() ? oldExpiry : today.getTime();
  const expiresAt = new Date(base + ctx.config.agreementTermMs);
  const r = await store.renew(trx, user.id, expiresAt, now);
  const u = { account_expires_at: expiresAt, email: old.email, old_expires_at: old.account_expires_at, lifted: r.lifted, lock_reason: r.lockReason };
  await trx('user_agreements').where('id', row.id).update({ completed_at: now, renewed_until: u.account_expires_at });
  await writeAudit(trx, {
    actor: ctx.config.actor,
    action: 'agreement.renewed',
    userId: user.id,
    ticket,
    details: { agreementId: Number(row.id), previousExpiry: iso(u.old_expires_at), expiresAt: iso(u.account_expires_at), lockLifted: Boolean(u.lifted) },
  });
  if (u.lifted) {
    await writeAudit(trx, { actor: ctx.config.actor, action: 'unlock', userId: user.id, ticket, details: { previousReason: 'agreement_expired', by: 'agreement.renewed' } });
  }
  const parts = [`agreement complete; account renewed until ${ymd(u.account_expires_at)}`];
  if (u.lifted) parts.push('the expired-agreement lock is lifted');
  else if (u.lock_reason) parts.push(`still locked (${u.lock_reason}): \`hmis-admin unlock ${userArg(user)}\` lifts that`);
  let outboxId: number | undefined;
  if (u.email) {
    outboxId = await queueNotice(trx, ctx, {
      kind: 'notice',
      userId: user.id,
      to: u.email,
      subject: 'Your HMIS user agreement is renewed',
      greeting: `Hello ${fullName(user) || user.username},`,
      paragraphs: [
        `Your HMIS user agreement has all three signatures, and your HMIS account (${user.username}) is renewed until ${ymd(u.account_expires_at)}.`,
        u.lifted ? 'The lock placed when the agreement expired is lifted: you can sign in again.' : 'Nothing else changes for you.',
      ],
      ticket,
    });
  } else parts.push('no email address on file, so the user was not told');
  return { message: parts.join('; '), outboxId };
}
