/** `unlock <user…>`, `unlock --all [--reason] [--agency]` and `lock <user> --reason <text>`. */
import { confirmOrRefuse, type AppContext } from '../context.js';
import { CliError, NotFoundError, UsageError } from '../errors.js';
import type { ResultStream } from '../output/lockout-views.js';
import { count } from '../output/format.js';
import { tallied } from '../output/result-lines.js';
import type { Outcome } from '../output/views.js';
import { parseUserRef, quote } from '../parse.js';
import { checkText, TEXT_LIMITS } from '../validate/text.js';
import { resolveAgency, resolveUser } from '../services/accounts.js';
import { countLocked, KEPT_BY_DEFAULT, lockAccount, lockedAccounts, unlockAccount, type BulkFilter } from '../services/lockout.js';
import { deliverNotices, deliveryNote } from '../services/notices.js';
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
  const ticket = opts.ticket ?? null;
  const db = await ctx.db();

  if (users.length === 1) {
    const user = await resolveUser(db.knex, users[0]!);
    return { single: true, results: [await unlockAccount(ctx, user, { ticket, notify: opts.notify, dryRun: opts.dryRun })] };
  }

  if (!opts.all) {
    users.forEach((u) => parseUserRef(u)); // a malformed name refuses the whole run before anything changes
    if (!opts.dryRun) await confirmOrRefuse(ctx, `Unlock ${users.length} accounts?`, opts.yes, `unlocking ${users.length} accounts`);
    return { results: unlockNamed(ctx, users, opts) };
  }

  const agencyId = opts.agency === undefined ? undefined : await resolveAgency(db.knex, opts.agency);
  // Accounts locked because their agreement expired need signatures, and an administrator's lock (staff
  // who left) needs a deliberate unlock: --all leaves both out unless --reason names them.
  const filter: BulkFilter = { reason: opts.reason, agencyId };
  const total = await countLocked(db.knex, filter);
  const skipped: Record<string, number> = {};
  for (const reason of KEPT_BY_DEFAULT) skipped[reason] = opts.reason === undefined ? await countLocked(db.knex, { reason, agencyId }) : 0;
  if (total > 0 && !opts.dryRun) {
    await confirmOrRefuse(ctx, `Unlock ${total} locked account(s)${opts.agency ? ` of ${opts.agency}` : ''}?`, opts.yes, `unlocking ${count(total, 'account')}`);
  }
  const counts: Record<string, number> = {};
  return {
    results: tallied(unlockFiltered(ctx, filter, opts), counts),
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

async function* unlockNamed(ctx: AppContext, users: string[], opts: UnlockOpts): AsyncGenerator<Outcome> {
  const { knex } = await ctx.db();
  yield* batched(ctx, async function* (deferDelivery) {
    for (const name of users) {
      try {
        const user = await resolveUser(knex, name);
        yield await unlockAccount(ctx, user, { ticket: opts.ticket ?? null, notify: opts.notify, dryRun: opts.dryRun, deferDelivery });
      } catch (err) {
        if (err instanceof NotFoundError) yield { user: name, outcome: 'not_found', message: err.message };
        else if (err instanceof CliError && err.exitCode === 2) yield { user: name, outcome: 'refused', message: err.message };
        else yield { user: name, outcome: 'failed', message: (err as Error).message.split('\n')[0]! };
      }
    }
  });
}

async function* unlockFiltered(ctx: AppContext, filter: BulkFilter, opts: UnlockOpts): AsyncGenerator<Outcome> {
  const { knex } = await ctx.db();
  yield* batched(ctx, async function* (deferDelivery) {
    for await (const user of lockedAccounts(knex, filter)) {
      try {
        yield await unlockAccount(ctx, user, { ticket: opts.ticket ?? null, notify: opts.notify, dryRun: opts.dryRun, deferDelivery, only: filter });
      } catch (err) {
        yield { user: user.username, outcome: 'failed', message: (err as Error).message.split('\n')[0]! };
      }
    }
  });
}

/** Deliver the notices of a bulk run 100 at a time over one transport, then report each account. */
async function* batched(ctx: AppContext, work: (defer: (id: number) => void) => AsyncIterable<Outcome>): AsyncGenerator<Outcome> {
  let pending: Array<[Outcome, number | undefined]> = [];
  let last: number | undefined;
  const flush = async function* () {
    const ids = pending.flatMap(([, id]) => (id === undefined ? [] : [id]));
    const delivered = await deliverNotices(ctx, ids);
    for (const [r, id] of pending) yield id === undefined ? r : { ...r, message: `${r.message}; ${deliveryNote('notice', delivered.get(id))}` };
    pending = [];
  };
  for await (const r of work((id) => (last = id))) {
    pending.push([r, last]);
    last = undefined;
    if (pending.length >= 100) yield* flush();
  }
  yield* flush();
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
  const db = await ctx.db();
  const row = await resolveUser(db.knex, user);
  return { single: true, results: [await lockAccount(ctx, row, { reason, ticket: opts.ticket ?? null, dryRun: opts.dryRun })] };
}
