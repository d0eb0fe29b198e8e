/** `users list` and `users show <user>`. */
import type { AppContext } from '../context.js';
import { UsageError } from '../errors.js';
import { parseCount, parseDuration } from '../parse.js';
import { listAccounts, resolveAgency, resolveUser, type AccountPages } from '../services/accounts/accounts.js';
import { accountDetail, type AccountDetail } from '../services/accounts/detail.js';

export interface UsersListOpts {
  locked?: boolean;
  expiring?: string;
  agency?: string;
  missingEmail?: boolean;
  search?: string;
  limit?: string;
}

export async function list(opts: UsersListOpts, ctx: AppContext): Promise<AccountPages> {
  const limit = opts.limit === undefined ? Infinity : parseCount(opts.limit, '--limit', 1);
  const within = opts.expiring === undefined ? undefined : parseDuration(opts.expiring, '--expiring');
  const search = opts.search?.trim();
  if (opts.search !== undefined && !search) throw new UsageError('--search needs some text, e.g. --search garcia');
  const store = await ctx.store();
  const now = ctx.clock();
  const agencyId = opts.agency === undefined ? undefined : await resolveAgency(store, opts.agency);
  return listAccounts(store, {
    filter: {
      locked: opts.locked,
      agencyId,
      missingEmail: opts.missingEmail,
      search,
      ...(within !== undefined ? { expiresAfter: now, expiresBefore: new Date(now.getTime() + within) } : {}),
    },
    order: within !== undefined ? 'expiry' : 'id',
    limit,
    json: ctx.config.format === 'json',
  });
}

export async function show(user: string, _opts: unknown, ctx: AppContext): Promise<AccountDetail> {
  const store = await ctx.store();
  const row = await resolveUser(store, user);
  return accountDetail(store, row, ctx.clock());
}
