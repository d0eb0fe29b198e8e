/**
 * Agreement expiry: which accounts expire soon (streamed, agreements looked up per page), and the
 * `expire` job that locks the expired ones, guarded so two cron hosts never both do the work.
 */
import { userArg } from '../../output/format.js';
import type { Knex } from 'knex';
import type { AppContext } from '../../context.js';
import type { Outcome } from '../../output/views.js';
import type { AccountRow, AccountStore } from '../../store/types.js';
import { inPages } from '../../db/paging.js';
import { fullName } from './accounts.js';
import { writeAudits } from './audit.js';
import { daysLeft, ymd } from './days.js';
import { SIGNERS, type AgreementRow, type Signer } from './detail.js';
import { signCommand } from './lockout.js';
import { deliverNotices, deliveryNote, queueNotices, type Notice } from '../notices/notices.js';

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

export { inPages } from '../../db/paging.js';

/** Pending renewals of these accounts, by user id (one query). */
export async function pendingAgreements(db: Knex, userIds: number[]): Promise<Map<number, AgreementRow>> {
  const rows = (await db('user_agreements').whereIn('user_id', userIds).whereNull('completed_at')) as AgreementRow[];
  return new Map(rows.map((r) => [Number(r.user_id), r]));
}

/** Accounts by expiry, soonest first, with days left and the missing signatures: a page at a time (the store's pages, one agreements query each). */
export async function* expiringPages(store: AccountStore, f: ExpiringFilter, pageSize = 500): AsyncGenerator<ExpiringRow[]> {
  // An agreement expiring exactly now counts as expired (as `expire` sees it): the filter is inclusive, so start 1 ms later.
  const after = f.includeExpired ? undefined : new Date(f.now.getTime() + 1);
  for await (const page of store.pages({ expiresBefore: f.before, expiresAfter: after, agencyId: f.agencyId }, 'expiry', Infinity, pageSize)) {
    const pending = await pendingAgreements(store.knex, page.map((r) => r.id));
    yield page.map((row) => Object.assign(row, { daysLeft: daysLeft(new Date(row.account_expires_at!), f.now), missing: missingFor(pending.get(row.id)) }));
  }
}

/** The same accounts one at a time. */
export async function* expiringAccounts(store: AccountStore, f: ExpiringFilter, pageSize = 500): AsyncGenerator<ExpiringRow> {
  for await (const page of expiringPages(store, f, pageSize)) yield* page;
}

/** An arbitrary constant naming the `expire` job for pg_try_advisory_xact_lock ("HMISEXPR"). */
export const EXPIRE_LOCK_KEY = 0x484d4953_45585052n;

export interface ExpireRun {
  /** Another run holds the job lock; this one did nothing. */
  running: boolean;
  results: AsyncGenerator<Outcome>;
  counts: Record<string, number>;
}

const PAGE = 500;

/**
 * Lock every unlocked account whose agreement has expired, a page at a time: one conditional UPDATE …
 * RETURNING (through the store), one multi-row audit insert and one multi-row outbox insert per page, in one
 * transaction. On a server the job holds pg_try_advisory_xact_lock in a guard transaction for its whole run;
 * a second run finds the lock taken and returns running=true. The embedded database needs no guard: its
 * lock file lets only one process open it at a time.
 */
export async function expireAccounts(ctx: AppContext, opts: { dryRun?: boolean; ticket?: string | null }): Promise<ExpireRun> {
  const db = await ctx.db();
  const store = await ctx.store();
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
  async function* dryRun(): AsyncGenerator<Outcome> {
    for await (const page of inPages(store.page({ expiredUnlockedAt: now }), PAGE)) {
      const pending = await pendingAgreements(store.knex, page.map((r) => r.id));
      for (const user of page) {
        counts.expired!++;
        yield { user: user.username, outcome: 'would_expire', message: `would lock: ${describe(user, missingFor(pending.get(user.id)))}` };
      }
    }
  }
  async function* work(): AsyncGenerator<Outcome> {
    try {
      if (opts.dryRun) return yield* dryRun();
      for (let afterId = 0; ; ) {
        let page: Array<Outcome & { outboxId?: number }>;
        let picked: number;
        try {
          ({ page, picked, afterId } = await expirePage(ctx, store, now, afterId, opts.ticket ?? null));
        } catch (err) {
          // The page rolled back whole: nothing of it is half-done, and a re-run finishes the job.
          counts.failed!++;
          yield { user: '(page)', outcome: 'failed', message: `a page of accounts after #${afterId} was not locked: ${(err as Error).message.split('\n')[0]}; run \`hmis-admin expire\` again` };
          return;
        }
        const delivered = await deliverNotices(ctx, page.flatMap((r) => (r.outboxId ? [r.outboxId] : [])));
        for (const { outboxId, ...outcome } of page) {
          counts.expired!++;
          if (outboxId) outcome.message += `; ${deliveryNote('notice', delivered.get(outboxId))}`;
          yield outcome;
        }
        if (picked < PAGE) return;
      }
    } finally {
      await guard?.commit();
    }
  }
  return { running: false, counts, results: work() };
}

function describe(user: AccountRow, missing: Signer[]): string {
  return `agreement expired on ${ymd(user.account_expires_at)}; missing: ${missing.join(', ')}; renew with ${signCommand(userArg(user), missing)}`;
}

/** One page: lock, audit and queue the notices together; returns the outcomes and where the next page starts. */
async function expirePage(ctx: AppContext, store: AccountStore, now: Date, afterId: number, ticket: string | null) {
  return store.knex.transaction(async (trx) => {
    const changed = await store.expire(trx, now, { afterId, limit: PAGE });
    const accounts = changed.map((c) => c.account);
    const pending = await pendingAgreements(trx, accounts.map((a) => a.id));
    const contacts = await store.contacts(accounts, trx);
    await writeAudits(
      trx,
      accounts.map((a) => ({
        actor: ctx.config.actor,
        action: 'lock',
        userId: a.id,
        ticket,
        details: { reason: 'agreement_expired', expiredAt: a.account_expires_at, missingSignatures: missingFor(pending.get(a.id)) },
      })),
    );
    const notices = accounts.map((a) => expiryNotice(ctx, a, missingFor(pending.get(a.id)), contacts.get(a.id)?.supervisor?.email ?? null, ticket));
    const told = notices.flatMap((n, i) => (n ? [[i, n] as const] : []));
    const ids = await queueNotices(trx, ctx, told.map(([, n]) => n));
    const outboxOf = new Map(told.map(([i], k) => [i, ids[k]!]));
    const page = accounts.map((a, i) => ({
      user: a.username,
      outcome: 'expired',
      message: `locked: ${describe(a, missingFor(pending.get(a.id)))}${outboxOf.has(i) ? '' : '; no email address for the user or the supervisor, nobody was told'}`,
      outboxId: outboxOf.get(i),
    }));
    return { page, picked: changed.length, afterId: accounts.length ? Math.max(...accounts.map((a) => a.id)) : afterId };
  });
}

/** Tell the user (copy to the supervisor) that the account is locked until the agreement is signed. */
function expiryNotice(ctx: AppContext, user: AccountRow, missing: Signer[], supervisorEmail: string | null, ticket: string | null): Notice | undefined {
  const to = user.email ?? supervisorEmail;
  if (!to) return undefined;
  return {
    kind: 'notice',
    userId: user.id,
    to,
    cc: supervisorEmail && supervisorEmail !== to ? [supervisorEmail] : [],
    subject: 'Your HMIS account is locked: the user agreement has expired',
    greeting: `Hello ${fullName(user) || user.username},`,
    paragraphs: [
      `Your HMIS user agreement expired on ${ymd(user.account_expires_at)}, so your HMIS account (${user.username}) is locked.`,
      `To open it again, the agreement needs ${missing.map(signerLabel).join('; ')}. ` +
        'Please get it signed and returned to your HMIS administrator; the account opens as soon as the last signature is recorded.',
    ],
    ticket,
  };
}

/** How a signer is named in mail. */
export function signerLabel(s: Signer): string {
  return s === 'user' ? 'your own signature' : s === 'supervisor' ? "your direct supervisor's signature" : "your agency's Executive Director's signature";
}
