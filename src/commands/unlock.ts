/** `unlock <user…>`, `unlock --all [--reason] [--agency]` and `lock <user> --reason <text>`. */
import { confirmOrRefuse, refuseUnconfirmable, type AppContext } from '../context.js';
import { CliError, NotFoundError, UsageError } from '../errors.js';
import type { ResultStream } from '../output/lockout-views.js';
import { count } from '../output/format.js';
import { tallied } from '../output/result-lines.js';
import type { Outcome } from '../output/views.js';
import { parseUserRef, quote } from '../parse.js';
import { checkText, TEXT_LIMITS } from '../validate/text.js';
import { resolveAgency, resolveUser } from '../services/accounts/accounts.js';
import { countForUnlock, lockAccount, unlockAll, unlockPage, type BulkFilter, type UnlockOptions } from '../services/accounts/lockout.js';
import type { AccountRow, AccountStore, LockReason } from '../store/types.js';
import { LOCK_REASONS } from './locked.js';

export interface UnlockOpts {
  all?: boolean;
  reason?: string;
  agency?: string;
  notify?: boolean;
  dryRun?: boolean;
  yes?: boolean;
  ticket?: string;
}

/** Unlock the named accounts, or every locked account matching --reason/--agency. */
export async function unlock(users: string[], opts: UnlockOpts, ctx: AppContext): Promise<ResultStream> {
  if (opts.all && users.length) throw new UsageError('give either user names or --all, not both');
  if (!opts.all && !users.length) throw new UsageError('name the accounts to unlock (e.g. `hmis-admin unlock jdoe`), or use --all');
  if (!opts.all && (opts.reason !== undefined || opts.agency !== undefined)) {
    throw new UsageError('--reason and --agency choose accounts for --all; add --all, or name the accounts');
  }
  if (opts.reason !== undefined && !(LOCK_REASONS as readonly string[]).includes(opts.reason)) {
    throw new UsageError(`--reason ${quote(opts.reason)} is not a lock reason; use one of ${LOCK_REASONS.join(', ')}`);
  }
  // Bulk work nobody can confirm is refused at start, whether or not anything is locked today.
  if (opts.all && !opts.dryRun) refuseUnconfirmable(ctx, opts.yes, '`unlock --all`');
  const store = await ctx.store();
  const base = { ticket: opts.ticket ?? null, notify: opts.notify, dryRun: opts.dryRun };

  if (users.length === 1) {
    const user = await resolveUser(store, users[0]!);
    return { single: true, results: await unlockPage(ctx, [user], base) };
  }

  if (!opts.all) {
    users.forEach((u) => parseUserRef(u)); // a malformed name refuses the whole run before anything changes
    if (!opts.dryRun) await confirmOrRefuse(ctx, `Unlock ${users.length} accounts?`, opts.yes, `unlocking ${users.length} accounts`);
    return { results: unlockNamed(ctx, await ctx.store(), users, base) };
  }

  const agencyId = opts.agency === undefined ? undefined : await resolveAgency(store, opts.agency);
  // Accounts locked because their agreement expired need signatures, and an administrator's lock (staff
  // who left) needs a deliberate unlock: --all leaves both out unless --reason names them.
  const filter: BulkFilter = { reason: opts.reason as LockReason | undefined, agencyId };
  const { total, skipped } = await countForUnlock(store, filter);
  if (total > 0 && !opts.dryRun) {
    await confirmOrRefuse(ctx, `Unlock ${total} locked account(s)${opts.agency ? ` of ${opts.agency}` : ''}?`, opts.yes, `unlocking ${count(total, 'account')}`);
  }
  const counts: Record<string, number> = {};
  return {
    results: tallied(unlockAll(ctx, filter, base), counts),
    summary: () => ({ counts, skipped }),
    after: () =>
      [
        total === 0 ? 'no locked accounts match' : undefined,
        skipped.agreement_expired
          ? `${skipped.agreement_expired} account(s) locked for an expired agreement were left alone; see \`hmis-admin expiring --include-expired\``
          : undefined,
        skipped.admin
          ? `${skipped.admin} account(s) locked by an administrator were left alone; unlock them by name, or with \`--all --reason admin\``
          : undefined,
      ]
        .filter(Boolean)
        .join('\n') || undefined,
  };
}

/** Named accounts, resolved first (an unknown name is reported, not fatal), then unlocked a page at a time. */
async function* unlockNamed(ctx: AppContext, store: AccountStore, users: string[], opts: UnlockOptions): AsyncGenerator<Outcome> {
  for (let i = 0; i < users.length; i += 500) {
    const names = users.slice(i, i + 500);
    const found: AccountRow[] = [];
    const early = new Map<number, Outcome>();
    for (const [j, name] of names.entries()) {
      try {
        found.push(await resolveUser(store, name));
      } catch (err) {
        if (err instanceof NotFoundError) early.set(j, { user: name, outcome: 'not_found', message: err.message });
        else if (err instanceof CliError && err.exitCode === 2) early.set(j, { user: name, outcome: 'refused', message: err.message });
        else throw err;
      }
    }
    // The same account named twice is unlocked once; the second mention reports what it finds then.
    const unique = [...new Map(found.map((u) => [u.id, u])).values()];
    const results = new Map((await unlockPage(ctx, unique, opts)).map((r, k) => [unique[k]!.id, r]));
    let next = 0;
    for (const [j] of names.entries()) {
      if (early.has(j)) yield early.get(j)!;
      else {
        const u = found[next++]!;
        yield results.get(u.id)!;
        results.set(u.id, { user: u.username, outcome: 'not_locked', message: 'named twice; unlocked once above' });
      }
    }
  }
}

export interface LockOpts {
  reason?: string;
  dryRun?: boolean;
  ticket?: string;
}

/** An administrator's lock, e.g. for staff who left the agency. */
export async function lock(user: string, opts: LockOpts, ctx: AppContext): Promise<ResultStream> {
  const reason = opts.reason?.trim() ?? '';
  if (!reason) throw new UsageError('--reason is required: say why, e.g. --reason "left the agency on 2026-11-30"');
  checkText(reason, '--reason', { max: TEXT_LIMITS.reason, kind: 'prose' }); // also checked at the edge (program.ts)
  const row = await resolveUser(await ctx.store(), user);
  return { single: true, results: [await lockAccount(ctx, row, { reason, ticket: opts.ticket ?? null, dryRun: opts.dryRun })] };
}
