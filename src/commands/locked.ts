/** `locked [--reason …] [--agency …]`: who is locked out, and why. */
import type { AppContext } from '../context.js';
import { UsageError } from '../errors.js';
import { parseCount, quote } from '../parse.js';
import { listAccounts, resolveAgency, type AccountRow } from '../services/accounts.js';

export const LOCK_REASONS = ['failed_logins', 'agreement_expired', 'admin'] as const;

export interface LockedOpts {
  reason?: string;
  agency?: string;
  limit?: string;
}

export async function locked(opts: LockedOpts, ctx: AppContext): Promise<AsyncIterable<AccountRow>> {
  if (opts.reason !== undefined && !(LOCK_REASONS as readonly string[]).includes(opts.reason)) {
    throw new UsageError(`--reason ${quote(opts.reason)} is not a lock reason; use one of ${LOCK_REASONS.join(', ')}`);
  }
  const limit = opts.limit === undefined ? Infinity : parseCount(opts.limit, '--limit', 1);
  const db = await ctx.db();
  const agencyId = opts.agency === undefined ? undefined : await resolveAgency(db.knex, opts.agency);
  return listAccounts(db.knex, { filter: { locked: true, lockReason: opts.reason, agencyId }, order: 'locked', limit });
}
