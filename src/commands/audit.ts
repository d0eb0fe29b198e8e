/** `audit [--user] [--actor] [--action] [--ticket] [--since] [--limit]`: the trail, newest first. */
import type { AppContext } from '../context.js';
import { parseCount, parseDuration } from '../parse.js';
import { resolveUser } from '../services/accounts.js';
import { pageAudit, type AuditRow } from '../services/audit.js';

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
  const db = await ctx.db();
  const userId = opts.user === undefined ? undefined : (await resolveUser(db.knex, opts.user)).id;
  return pageAudit(db.knex, { userId, actor: opts.actor, action: opts.action, ticket: opts.ticket, since }, limit);
}
