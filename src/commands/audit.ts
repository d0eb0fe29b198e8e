/** `audit [--user] [--actor] [--action] [--ticket] [--since] [--limit]`: the trail, newest first. */
import type { AppContext } from '../context.js';
import { parseCount, parseDuration } from '../parse.js';
import { resolveUser } from '../services/accounts/accounts.js';
import { pageAudit, type AuditRow } from '../services/accounts/audit.js';

export interface AuditOpts {
  user?: string;
  actor?: string;
  action?: string;
  ticket?: string;
  since?: string;
  limit?: string;
}

export async function audit(opts: AuditOpts, ctx: AppContext): Promise<AsyncIterable<AuditRow>> {
  const limit = parseCount(opts.limit ?? '100', '--limit', 1);
  const since = opts.since === undefined ? undefined : new Date(ctx.clock().getTime() - parseDuration(opts.since, '--since'));
  const store = await ctx.store();
  const userId = opts.user === undefined ? undefined : (await resolveUser(store, opts.user)).id;
  return pageAudit(store, { userId, actor: opts.actor, action: opts.action, ticket: opts.ticket, since }, limit);
}
