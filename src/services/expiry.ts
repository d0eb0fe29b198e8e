/**
 * Agreement expiry: which accounts expire soon (streamed, agreements looked up per page), and the
 * `expire` job that locks the expired ones, guarded so two cron hosts never both do the work.
 */
import type { Knex } from 'knex';
import type { AppContext } from '../context.js';
import { findAccountById, pageAccounts, type AccountRow } from '../db/accounts.js';
import type { Outcome } from '../output/views.js';
import { fullName } from './accounts.js';
import { writeAudit } from './audit.js';
import { daysLeft, ymd } from './days.js';
import { SIGNERS, type AgreementRow, type Signer } from './detail.js';
import { signCommand } from './lockout.js';
import { deliverNotices, deliveryNote, queueNotice } from './notices.js';

export interface ExpiringRow extends AccountRow {
  daysLeft: number;
  missing: Signer[];
}

export interface ExpiringFilter {
  now: Date;
  /** Only accounts expiring before this instant. */
  before: Date;
  includeExpired?: boolean;
  agencyId?: number;
}

/** Signatures missing for the next renewal: those the pending row lacks, or all three when none is pending. */
export function missingFor(pending: AgreementRow | undefined): Signer[] {
  return pending ? SIGNERS.filter((s) => !pending[`${s}_signed_at`]) : [...SIGNERS];
}

/** Group rows into pages so each page's agreements come from one query, not one per row. */
export async function* inPages<T>(rows: AsyncIterable<T>, size: number): AsyncGenerator<T[]> {
  let page: T[] = [];
  for await (const row of rows) {
    page.push(row);
    if (page.length >= size) {
      yield page;
      page = [];
    }
  }
  if (page.length) yield page;
}

/** Pending renewals of these accounts, by user id (one query). */
export async function pendingAgreements(db: Knex, userIds: number[]): Promise<Map<number, AgreementRow>> {
  const rows = (await db('user_agreements').whereIn('user_id', userIds).whereNull('completed_at')) as AgreementRow[];
  return new Map(rows.map((r) => [Number(r.user_id), r]));
}

/** Accounts by expiry, soonest first, with days left and the missing signatures. */
export async function* expiringAccounts(db: Knex, f: ExpiringFilter, pageSize = 500): AsyncGenerator<ExpiringRow> {
  // An agreement expiring exactly now counts as expired (as `expire` sees it): the filter is inclusive, so start 1 ms later.
  const after = f.includeExpired ? undefined : new Date(f.now.getTime() + 1);
  const rows = pageAccounts(db, { expiresBefore: f.before, expiresAfter: after, agencyId: f.agencyId }, 'expiry', Infinity, pageSize);
  for await (const page of inPages(rows, pageSize)) {
    const pending = await pendingAgreements(db, page.map((r) => r.id));
    for (const row of page) {
      yield Object.assign(row, { daysLeft: daysLeft(row.account_expires_at!, f.now), missing: missingFor(pending.get(row.id)) });
    }
  }
}

/** An arbitrary constant naming the `expire` job for pg_try_advisory_xact_lock ("HMISEXPR"). */
export const EXPIRE_LOCK_KEY = 0x484d4953_45585052n;

export interface ExpireRun {
  /** Another run holds the job lock; this one did nothing. */
  running: boolean;
  results: AsyncGenerator<Outcome>;
  counts: Record<string, number>;
}

/** How many unlocked accounts `expire` would lock now (for its confirmation question). */
export async function countExpiredUnlocked(knex: Knex, now: Date): Promise<number> {
  const [row] = (await knex('users').whereNull('locked_at').where('account_expires_at', '<=', now).count({ n: '*' })) as Array<{ n: number | string }>;
  return Number(row?.n ?? 0);
}

/**
 * Lock every unlocked account whose agreement has expired. On a server the job holds
 * pg_try_advisory_xact_lock in a guard transaction for its whole run while each account commits
 * in its own transaction; a second run finds the lock taken and returns running=true. The
 * embedded database needs no guard: its lock file lets only one process open it at a time.
 */
export async function expireAccounts(ctx: AppContext, opts: { dryRun?: boolean; ticket?: string | null }): Promise<ExpireRun> {
  const db = await ctx.db();
  const now = ctx.clock();
  const counts: Record<string, number> = { expired: 0, failed: 0 };
  let guard: Knex.Transaction | undefined;
  if (db.kind === 'postgres') {
    guard = await db.knex.transaction();
    const got = (await guard.raw('select pg_try_advisory_xact_lock(?::bigint) as got', [EXPIRE_LOCK_KEY.toString()])).rows[0].got;
    if (!got) {
      await guard.rollback();
      return { running: true, counts, results: (async function* () {})() };
    }
  }
  async function* work(): AsyncGenerator<Outcome> {
    try {
      let last = 0;
      for (;;) {
        const ids = ((await db.knex('users')
          .whereNull('locked_at')
          .where('account_expires_at', '<=', now)
          .where('id', '>', last)
          .orderBy('id')
          .limit(200)
          .pluck('id')) as Array<number | string>).map(Number);
        const outboxIds = new Map<number, Outcome & { outboxId?: number }>();
        const page: Array<Outcome & { outboxId?: number }> = [];
        for (const id of ids) {
          const r = await expireOne(ctx, id, now, opts);
          if (r) {
            counts[r.outcome === 'failed' ? 'failed' : 'expired']!++;
            page.push(r);
            if (r.outboxId) outboxIds.set(r.outboxId, r);
          }
        }
        const delivered = await deliverNotices(ctx, [...outboxIds.keys()]);
        for (const r of page) {
          const { outboxId, ...outcome } = r;
          if (outboxId) outcome.message += `; ${deliveryNote('notice', delivered.get(outboxId))}`;
          yield outcome;
        }
        if (ids.length < 200) return;
        last = ids[ids.length - 1]!;
      }
    } finally {
      await guard?.commit();
    }
  }
  return { running: false, counts, results: work() };
}

/** One account: the conditional lock, its audit row and the notice, in one transaction. */
async function expireOne(ctx: AppContext, id: number, now: Date, opts: { dryRun?: boolean; ticket?: string | null }): Promise<(Outcome & { outboxId?: number }) | undefined> {
  const { knex } = await ctx.db();
  const user = await findAccountById(knex, id);
  if (!user) return undefined;
  const pending = (await pendingAgreements(knex, [id])).get(id);
  const missing = missingFor(pending);
  const base = `agreement expired on ${ymd(user.account_expires_at)}; missing: ${missing.join(', ')}; renew with ${signCommand(user.username, missing)}`;
  if (opts.dryRun) return { user: user.username, outcome: 'would_expire', message: `would lock: ${base}` };
  try {
    return await knex.transaction(async (trx) => {
      const rows = (await trx('users')
        .where('id', id)
        .whereNull('locked_at')
        .where('account_expires_at', '<=', now)
        .update({ locked_at: now, lock_reason: 'agreement_expired', updated_at: now })
        .returning(['id'])) as Array<{ id: number }>;
      if (!rows[0]) return undefined; // unlocked or renewed meanwhile, or another run got here first
      await writeAudit(trx, {
        actor: ctx.config.actor,
        action: 'lock',
        userId: id,
        ticket: opts.ticket ?? null,
        details: { reason: 'agreement_expired', expiredAt: user.account_expires_at?.toISOString() ?? null, missingSignatures: missing },
      });
      const outboxId = await expiryNotice(trx, ctx, user, missing, opts.ticket ?? null);
      return {
        user: user.username,
        outcome: 'expired',
        message: `locked: ${base}${outboxId ? '' : '; no email address for the user or the supervisor, nobody was told'}`,
        outboxId,
      };
    });
  } catch (err) {
    return { user: user.username, outcome: 'failed', message: (err as Error).message.split('\n')[0]! };
  }
}

/** Tell the user (copy to the supervisor) that the account is locked until the agreement is signed. */
async function expiryNotice(trx: Knex.Transaction, ctx: AppContext, user: AccountRow, missing: Signer[], ticket: string | null): Promise<number | undefined> {
  const supervisor = user.supervisor_id ? ((await trx('users').where('id', user.supervisor_id).first('email')) as { email: string | null } | undefined) : undefined;
  const to = user.email ?? supervisor?.email;
  if (!to) return undefined;
  return queueNotice(trx, ctx, {
    kind: 'notice',
    userId: user.id,
    to,
    cc: supervisor?.email ? [supervisor.email] : [],
    subject: 'Your HMIS account is locked: the user agreement has expired',
    greeting: `Hello ${fullName(user) || user.username},`,
    paragraphs: [
      `Your HMIS user agreement expired on ${ymd(user.account_expires_at)}, so your HMIS account (${user.username}) is locked.`,
      `To open it again, the agreement needs ${missing.map(signerLabel).join('; ')}. ` +
        'Please get it signed and returned to your HMIS administrator; the account opens as soon as the last signature is recorded.',
    ],
    ticket,
  });
}

/** How a signer is named in mail. */
export function signerLabel(s: Signer): string {
  return s === 'user' ? 'your own signature' : s === 'supervisor' ? "your direct supervisor's signature" : "your agency's Executive Director's signature";
}
