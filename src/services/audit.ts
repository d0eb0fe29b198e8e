/** The audit trail: one row per change, written in the change's own transaction; addresses masked, no tokens. */
import type { Knex } from 'knex';
import { pageById } from '../db/paging.js';
import { iso } from '../output/format.js';

export interface AuditEntry {
  actor: string;
  action: string;
  userId?: number | null;
  ticket?: string | null;
  details?: Record<string, unknown>;
}

/** Write one audit row inside the caller's transaction (db_user is left to the database: it records the session's account). */
export async function writeAudit(trx: Knex | Knex.Transaction, entry: AuditEntry): Promise<void> {
  await trx('audit_log').insert({
    actor: entry.actor,
    action: entry.action,
    user_id: entry.userId ?? null,
    ticket: entry.ticket ?? null,
    details: JSON.stringify(entry.details ?? {}),
  });
}

/** j***@agency.org: enough to tell addresses apart in the trail, not enough to harvest them. */
export function maskEmail(email: string | null | undefined): string | null {
  if (!email) return null;
  const at = email.lastIndexOf('@');
  if (at < 1) return '***';
  return `${email[0]}***${email.slice(at)}`;
}

export interface AuditFilter {
  userId?: number;
  actor?: string;
  action?: string;
  ticket?: string;
  since?: Date;
}

export interface AuditRow {
  id: number;
  at: Date;
  actor: string;
  /** The database account that wrote the row (set by the database; null for rows older than the column). */
  db_user: string | null;
  action: string;
  user_id: number | null;
  username: string | null;
  ticket: string | null;
  details: Record<string, unknown> | string;
}

/** Newest first (ids follow commit order closely enough), paged on id so a long trail streams. */
export async function* pageAudit(db: Knex, filter: AuditFilter, limit = Infinity, pageSize = 1000): AsyncGenerator<AuditRow> {
  const build = () => {
    const q = db('audit_log as l')
      .leftJoin('users as u', 'u.id', 'l.user_id')
      .select('l.id', 'l.at', 'l.actor', 'l.db_user', 'l.action', 'l.user_id', 'u.username', 'l.ticket', 'l.details');
    if (filter.userId !== undefined) q.where('l.user_id', filter.userId);
    if (filter.actor) q.whereRaw('lower(l.actor) = lower(?)', [filter.actor]);
    if (filter.action) {
      // "unlock" matches unlock and unlock.*; an exact action name matches only itself.
      q.where((w) => w.where('l.action', filter.action!).orWhere('l.action', 'like', `${filter.action!.replace(/[\\%_]/g, '\\$&')}.%`));
    }
    if (filter.ticket) q.where('l.ticket', filter.ticket);
    if (filter.since) q.where('l.at', '>=', filter.since);
    return q;
  };
  for await (const row of pageById<AuditRow>(build, 'l.id', 'desc', limit, pageSize)) {
    row.id = Number(row.id);
    yield row;
  }
}

/** The JSON shape of an audit entry. */
export function auditJson(row: AuditRow): Record<string, unknown> {
  return {
    id: row.id,
    at: iso(row.at),
    actor: row.actor,
    dbUser: row.db_user,
    action: row.action,
    userId: row.user_id,
    user: row.username,
    ticket: row.ticket,
    details: typeof row.details === 'string' ? JSON.parse(row.details) : row.details,
  };
}
