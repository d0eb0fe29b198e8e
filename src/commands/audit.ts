/** `audit [--user] [--by] [--action] [--ticket] [--since] [--limit]`: the trail, newest first. */
import type { AppContext } from '../context.js';
import { parseCount, parseDuration, quote } from '../parse.js';
import { resolveUser } from '../services/accounts/accounts.js';
import { pageAudit, type AuditRow } from '../services/accounts/audit.js';

export interface AuditOpts {
  user?: string;
  /** Only entries written by this actor (the filter was `--actor` before the global --actor took that name). */
  by?: string;
  /** The global --actor: who is acting. `audit` records nothing, so it filters nothing. */
  actor?: string;
  action?: string;
  ticket?: string;
  since?: string;
  limit?: string;
}

export async function audit(opts: AuditOpts, ctx: AppContext): Promise<AsyncIterable<AuditRow>> {
  const limit = parseCount(opts.limit ?? '100', '--limit', 1);
  const since = opts.since === undefined ? undefined : new Date(ctx.clock().getTime() - parseDuration(opts.since, '--since'));
  if (opts.actor !== undefined && opts.by === undefined) {
    // An old habit (`audit --actor alice`) would otherwise list everyone's entries without a word.
    ctx.out.warn(`--actor says who is acting and filters nothing; to list the entries ${quote(opts.actor)} wrote, use --by ${quote(opts.actor)}`);
  }
  const store = await ctx.store();
  const userId = opts.user === undefined ? undefined : (await resolveUser(store, opts.user)).id;
  return pageAudit(store, { userId, actor: opts.by, action: opts.action, ticket: opts.ticket, since }, limit);
}
