/** The audit trail: one row per change, written in the change's own transaction; addresses masked, no tokens. */
import type { Knex } from 'knex';
import { inPages, pageById } from '../../db/paging.js';
import type { AccountStore } from '../../store/types.js';
import { iso } from '../../output/format.js';

export interface AuditEntry {
  actor: string;
  action: string;
  userId?: number | null;
  ticket?: string | null;
  details?: Record<string, unknown>;
}

/** Write one audit row inside the caller's transaction (db_user is left to the database: it records the session's account). */
export async function writeAudit(trx: Knex | Knex.Transaction, entry: AuditEntry): Promise<void> {
  await writeAudits(trx, [entry]);
}

/** Write the rows of a page of changes in one statement (one row per change, as ever). */
export async function writeAudits(trx: Knex | Knex.Transaction, entries: AuditEntry[]): Promise<void> {
  if (!entries.length) return;
  await trx('audit_log').insert(
    entries.map((entry) => ({
      actor: entry.actor,
      action: entry.action,
      user_id: entry.userId ?? null,
      ticket: entry.ticket ?? null,
      details: JSON.stringify(entry.details ?? {}),
    })),
  );
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
export async function* pageAudit(store: AccountStore, filter: AuditFilter, limit = Infinity, pageSize = 1000): AsyncGenerator<AuditRow> {
  const db = store.knex;
  const build = () => {
    const q = db('audit_log as l').select('l.id', 'l.at', 'l.actor', 'l.db_user', 'l.action', 'l.user_id', 'l.ticket', 'l.details');
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
  // The account names come from the store, a page at a time: the host's table may not be joinable here.
  for await (const page of inPages(pageById<AuditRow>(build, 'l.id', 'desc', limit, pageSize), pageSize)) {
    const names = await store.usernames(page.flatMap((r) => (r.user_id === null ? [] : [Number(r.user_id)])));
    for (const row of page) {
      row.id = Number(row.id);
      if (row.user_id !== null) row.user_id = Number(row.user_id);
      row.username = row.user_id === null ? null : (names.get(row.user_id) ?? null);
      yield row;
    }
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
