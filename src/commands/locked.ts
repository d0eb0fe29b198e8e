/** `locked [--reason …] [--agency …]`: who is locked out, and why. */
import type { AppContext } from '../context.js';
import { UsageError } from '../errors.js';
import { parseCount, quote } from '../parse.js';
import { listAccounts, resolveAgency, type AccountPages } from '../services/accounts/accounts.js';
import type { LockReason } from '../store/types.js';

export const LOCK_REASONS = ['failed_logins', 'agreement_expired', 'admin'] as const;

export interface LockedOpts {
  reason?: string;
  agency?: string;
  limit?: string;
}

export async function locked(opts: LockedOpts, ctx: AppContext): Promise<AccountPages> {
  if (opts.reason !== undefined && !(LOCK_REASONS as readonly string[]).includes(opts.reason)) {
    throw new UsageError(`--reason ${quote(opts.reason)} is not a lock reason; use one of ${LOCK_REASONS.join(', ')}`);
  }
  const limit = opts.limit === undefined ? Infinity : parseCount(opts.limit, '--limit', 1);
  const store = await ctx.store();
  const agencyId = opts.agency === undefined ? undefined : await resolveAgency(store, opts.agency);
  const lockReasons = opts.reason === undefined ? undefined : [opts.reason as LockReason];
  return listAccounts(store, { filter: { locked: true, lockReasons, agencyId }, order: 'locked', limit, json: ctx.config.format === 'json' });
}
