/**
 * Unlocking and locking accounts, a page at a time: one conditional UPDATE … RETURNING for the page (through
 * the account store), one multi-row audit insert and one multi-row outbox insert, in one transaction. So two
 * administrators acting at once change each account once with one audit row, a killed connection leaves no
 * half-applied page, and a re-run finishes the job.
 */
import { userArg } from '../../output/format.js';
import type { AppContext } from '../../context.js';
import { when } from '../../output/format.js';
import type { Outcome } from '../../output/views.js';
import type { AccountFilter, AccountRow, AccountStore, Changed, Instant, LockReason } from '../../store/types.js';
import { fullName } from './accounts.js';
import { writeAudit, writeAudits } from './audit.js';
import { ymd } from './days.js';
import { SIGNERS, type Signer } from './detail.js';
import { missingFor, pendingAgreements } from './expiry.js';
import { deliverNotices, deliveryNote, queueNotices, type Notice } from '../notices/notices.js';

/** The commands (each in backticks) that record the signatures an expired agreement still lacks. */
export function signCommand(username: string, missing: Signer[]): string {
  const roles = missing.length ? missing : SIGNERS;
  return roles.map((r) => `\`hmis-admin agreement sign ${username} --by ${r}\``).join(', ');
}

/** Locks `unlock --all` leaves alone unless --reason names them: agreements need signatures, admin locks a deliberate unlock. */
export const KEPT_BY_DEFAULT = ['agreement_expired', 'admin'] as const;

/** What `unlock --all` chose: one lock reason, or (none given) every reason but those kept by default. */
export interface BulkFilter {
  reason?: LockReason;
  agencyId?: number;
}

/** The lock reasons a bulk run lifts (an agreement lock is never lifted by unlock: signatures do that). */
function chosenReasons(only: BulkFilter | undefined): LockReason[] {
  if (!only) return ['failed_logins', 'admin'];
  if (only.reason) return only.reason === 'agreement_expired' ? [] : [only.reason];
  return ['failed_logins'];
}

/** The accounts `unlock --all` looks at: locked ones of the chosen reason (agreement locks too, to report them). */
export function bulkFilter(f: BulkFilter): AccountFilter {
  return { locked: true, lockReasons: f.reason ? [f.reason] : ['failed_logins'], agencyId: f.agencyId };
}

/** How many accounts `unlock --all` would look at, and how many it leaves alone by default. */
export async function countForUnlock(store: AccountStore, f: BulkFilter): Promise<{ total: number; skipped: Record<string, number> }> {
  const total = await store.count(bulkFilter(f));
  const skipped: Record<string, number> = {};
  for (const reason of KEPT_BY_DEFAULT) skipped[reason] = f.reason === undefined ? await store.count({ lockReasons: [reason], agencyId: f.agencyId }) : 0;
  return { total, skipped };
}

export interface UnlockOptions {
  ticket?: string | null;
  notify?: boolean;
  dryRun?: boolean;
  /** `unlock --all`: only locks of the reasons it chose, re-checked in the UPDATE (a lock may change meanwhile). */
  only?: BulkFilter;
}

/**
 * Unlock one page of accounts: clears the lock, its reason and the failed-login counter together, audits each
 * change and queues each notice in the same transaction, then delivers the notices. One outcome per account.
 */
export async function unlockPage(ctx: AppContext, users: AccountRow[], opts: UnlockOptions): Promise<Outcome[]> {
  const store = await ctx.store();
  const now = ctx.clock();
  const reasons = chosenReasons(opts.only);
  const ids = users.map((u) => u.id);
  if (opts.dryRun) return explain(store, ids, users, reasons, opts.only, (r) => ({ user: r.username, outcome: 'would_unlock', message: `locked: ${r.lock_reason ?? 'unknown reason'}` }));

  const { changed, outboxIds } = await store.knex.transaction(async (trx) => {
    const changed = await store.unlock(trx, ids, reasons, now);
    await writeAudits(
      trx,
      changed.map((c) => ({
        actor: ctx.config.actor,
        action: 'unlock',
        userId: c.account.id,
        ticket: opts.ticket ?? null,
        details: { previousReason: c.previousReason, failedLoginAttempts: c.previousAttempts, notify: Boolean(opts.notify) },
      })),
    );
    const told = opts.notify ? changed.filter((c) => c.account.email) : [];
    const outboxIds = new Map<number, number>();
    (await queueNotices(trx, ctx, told.map((c) => unlockNotice(ctx, c.account, opts.ticket ?? null)))).forEach((id, i) => outboxIds.set(told[i]!.account.id, id));
    return { changed, outboxIds };
  });

  const delivered = await deliverNotices(ctx, [...outboxIds.values()]);
  const done = new Map(changed.map((c) => [c.account.id, unlockedOutcome(c, now, opts.notify, outboxIds.get(c.account.id), delivered)]));
  const rest = ids.filter((id) => !done.has(id));
  const others = await explain(store, rest, users, reasons, opts.only, (r) => ({ user: r.username, outcome: 'failed', message: `still locked (${r.lock_reason ?? 'unknown reason'}); try again` }));
  const byId = new Map(rest.map((id, i) => [id, others[i]!]));
  return ids.map((id) => done.get(id) ?? byId.get(id)!);
}

function unlockedOutcome(c: Changed, now: Date, notify: boolean | undefined, outboxId: number | undefined, delivered: Awaited<ReturnType<typeof deliverNotices>>): Outcome {
  const a = c.account;
  // Only a count that changed is news: an admin lock with no failed logins says nothing about them.
  const parts = [`was locked: ${c.previousReason ?? 'unknown reason'}${c.previousAttempts ? `; failed logins reset from ${c.previousAttempts} to 0` : ''}`];
  if (notify) parts.push(outboxId === undefined ? 'no email address on file, so the user was not told' : deliveryNote('notice', delivered.get(outboxId)));
  if (a.account_expires_at && Date.parse(a.account_expires_at) <= now.getTime()) {
    parts.push(`note: the agreement expired on ${ymd(a.account_expires_at)}, so the next \`hmis-admin expire\` run locks it again`);
  }
  return { user: a.username, outcome: 'unlocked', message: parts.join('; ') };
}

function unlockNotice(ctx: AppContext, a: AccountRow, ticket: string | null): Notice {
  const n = ctx.config.lockoutThreshold;
  return {
    kind: 'notice',
    userId: a.id,
    to: a.email!,
    subject: 'Your HMIS account is open again',
    greeting: `Hello ${fullName(a) || a.username},`,
    paragraphs: [
      `Your HMIS account (${a.username}) was locked and has now been unlocked by an administrator. You can sign in again.`,
      `If you do not remember your password, use "Forgot password" on the HMIS sign-in page before you try again: after ${n} failed attempt${n === 1 ? '' : 's'} the account locks again.`,
      'If you did not ask for this, tell your HMIS administrator.',
    ],
    ticket,
  };
}

/**
 * Why accounts were (or would be) left as they are, from their state now (one query for the page): gone, not
 * locked, an agreement lock (named signatures), a lock this run did not choose — or `otherwise` for the rest.
 */
async function explain(store: AccountStore, ids: number[], asked: AccountRow[], reasons: LockReason[], only: BulkFilter | undefined, otherwise: (r: AccountRow) => Outcome): Promise<Outcome[]> {
  if (!ids.length) return [];
  const rows = new Map<number, AccountRow>();
  for await (const r of store.page({ ids })) rows.set(r.id, r);
  const agreementLocked = [...rows.values()].filter((r) => r.locked_at && r.lock_reason === 'agreement_expired').map((r) => r.id);
  const pending = agreementLocked.length ? await pendingAgreements(store.knex, agreementLocked) : new Map();
  return ids.map((id) => {
    const r = rows.get(id);
    const name = asked.find((u) => u.id === id)?.username ?? `#${id}`;
    if (!r) return { user: name, outcome: 'not_found', message: 'the account no longer exists' };
    if (!r.locked_at) return { user: r.username, outcome: 'not_locked', message: 'nothing to do' };
    if (r.lock_reason === 'agreement_expired') {
      const missing = missingFor(pending.get(id));
      return {
        user: r.username,
        outcome: 'refused',
        message:
          `locked because the user agreement expired on ${ymd(r.account_expires_at)}; unlock renews nothing. ` +
          `Missing signatures: ${missing.join(', ')}; record them with ${signCommand(userArg(r), missing)} (the last one lifts the lock)`,
      };
    }
    if (!reasons.includes(r.lock_reason ?? 'failed_logins')) {
      if (only && only.reason === undefined && r.lock_reason === 'admin') {
        return {
          user: r.username,
          outcome: 'refused',
          message: `locked by an administrator since ${when(r.locked_at)}; \`unlock --all\` leaves admin locks alone: unlock it by name (\`hmis-admin unlock ${userArg(r)}\`) or with --reason admin`,
        };
      }
      return { user: r.username, outcome: 'refused', message: `now locked for ${r.lock_reason ?? 'an unknown reason'}, not ${reasons.join(' or ')}, since ${when(r.locked_at)}; left alone` };
    }
    return otherwise(r);
  });
}

/**
 * Every locked account matching `f`, a page at a time, unlocked. The pages are read ahead on id, so an
 * account unlocked by this run drops out of the filter without the next page losing its place.
 */
export async function* unlockAll(ctx: AppContext, f: BulkFilter, opts: UnlockOptions, pageSize = 500): AsyncGenerator<Outcome> {
  const store = await ctx.store();
  let page: AccountRow[] = [];
  for await (const row of store.page(bulkFilter(f), 'id')) {
    page.push(row);
    if (page.length >= pageSize) {
      yield* await unlockPage(ctx, page, { ...opts, only: f });
      page = [];
    }
  }
  if (page.length) yield* await unlockPage(ctx, page, { ...opts, only: f });
}

/**
 * An administrator's lock (reason 'admin'), whatever lock was there before: it replaces a failed-login or
 * agreement lock so that no bulk unlock of those reasons reopens the account. The text, the previous reason
 * and the ticket go to the audit row in the same transaction.
 */
export async function lockAccount(ctx: AppContext, user: AccountRow, opts: { reason: string; ticket?: string | null; dryRun?: boolean }): Promise<Outcome> {
  const store = await ctx.store();
  const now = ctx.clock();
  if (opts.dryRun) {
    const row = await store.findById(user.id);
    if (!row) return { user: user.username, outcome: 'not_found', message: 'the account no longer exists' };
    if (row.locked_at && row.lock_reason === 'admin') return alreadyLocked(row);
    return { user: row.username, outcome: 'would_lock', message: `by an administrator: ${opts.reason}${replaced(row.locked_at, row.lock_reason)}` };
  }
  const before = await store.findById(user.id);
  const done = await store.knex.transaction(async (trx) => {
    const c = await store.adminLock(trx, user.id, now);
    if (!c) return undefined;
    const previousLockedAt = c.previousReason && before?.locked_at ? before.locked_at : null;
    await writeAudit(trx, {
      actor: ctx.config.actor,
      action: 'lock',
      userId: user.id,
      ticket: opts.ticket ?? null,
      details: { reason: 'admin', note: opts.reason, previousReason: c.previousReason, previousLockedAt },
    });
    return c;
  });
  if (done) return { user: user.username, outcome: 'locked', message: `by an administrator: ${opts.reason}${replaced(done.previousReason ? before?.locked_at ?? null : null, done.previousReason)}` };
  const row = await store.findById(user.id);
  if (!row) return { user: user.username, outcome: 'not_found', message: 'the account no longer exists' };
  return alreadyLocked(row);
}

/** How the message names a lock the administrator's lock took over. */
function replaced(lockedAt: Instant | null, reason: string | null): string {
  if (!lockedAt) return '';
  return ` (replaces the ${reason ?? 'unknown-reason'} lock of ${when(lockedAt)}, so unlocking that reason no longer opens it)`;
}

function alreadyLocked(row: AccountRow): Outcome {
  return {
    user: row.username,
    outcome: 'locked', // CONTRACT's outcome for the end state; the message says nothing changed
    message: `already locked by an administrator since ${row.locked_at ? when(row.locked_at) : 'an unknown time'}; nothing changed`,
  };
}

/** Unlock one account (the helpdesk wizard, single names): a page of one. */
export async function unlockAccount(ctx: AppContext, user: AccountRow, opts: UnlockOptions): Promise<Outcome> {
  return (await unlockPage(ctx, [user], opts))[0]!;
}
