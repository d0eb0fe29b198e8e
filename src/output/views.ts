/** How each kind of result looks: table columns (80 wide) and the JSON record of CONTRACT.md. */
import type { AccountRow } from '../services/accounts/accounts.js';
import { accountJson, fullName, statusText } from '../services/accounts/accounts.js';
import type { AuditRow } from '../services/accounts/audit.js';
import { auditJson } from '../services/accounts/audit.js';
import { shortDate, shortTime } from './format.js';
import type { ListView } from './render.js';
import { paint, type Column } from './table.js';

const statusColour = (text: string) => (text.startsWith('locked') || text === 'expired' ? paint.bad(text) : paint.good(text));

/** `users list`: widths add up to 80 with the one-space gutters. */
export function accountsView(ctx: { clock: () => Date }): ListView<AccountRow> {
  const now = ctx.clock();
  const columns: Column<AccountRow>[] = [
    { header: 'ID', width: 8, value: (r) => r.id },
    { header: 'USERNAME', width: 15, value: (r) => r.username },
    { header: 'NAME', width: 17, value: (r) => fullName(r) },
    { header: 'EMAIL', width: 20, value: (r) => r.email ?? '(none)' },
    { header: 'STATUS', width: 19, value: (r) => statusText(r, now), colour: statusColour },
  ];
  return { columns, toJson: accountJson, empty: 'no accounts match' };
}

/** `locked`: why and since when. */
export function lockedView(): ListView<AccountRow> {
  const columns: Column<AccountRow>[] = [
    { header: 'ID', width: 8, value: (r) => r.id },
    { header: 'USERNAME', width: 15, value: (r) => r.username },
    { header: 'NAME', width: 16, value: (r) => fullName(r) },
    { header: 'AGENCY', width: 14, value: (r) => r.agency ?? '' },
    { header: 'REASON', width: 10, value: (r) => reasonShort(r.lock_reason), colour: paint.bad },
    { header: 'LOCKED (UTC)', width: 17, value: (r) => shortTime(r.locked_at) },
  ];
  return { columns, toJson: accountJson, empty: 'no locked accounts' };
}

function reasonShort(reason: string | null): string {
  if (reason === 'failed_logins') return 'fails';
  if (reason === 'agreement_expired') return 'agreement';
  return reason ?? 'unknown';
}

/** `audit`: newest first. */
export function auditView(): ListView<AuditRow> {
  const columns: Column<AuditRow>[] = [
    { header: 'AT (UTC)', width: 17, value: (r) => shortTime(r.at) },
    { header: 'ACTOR', width: 9, value: (r) => r.actor },
    // Who the database says wrote it: --actor is only what the operator typed.
    { header: 'DB USER', width: 9, value: (r) => r.db_user ?? '-' },
    { header: 'ACTION', width: 17, value: (r) => r.action },
    { header: 'USER', width: 11, value: (r) => r.username ?? (r.user_id ? `#${r.user_id}` : '') },
    { header: 'TICKET', width: 9, value: (r) => r.ticket ?? '' },
    { header: 'DETAILS', width: 8, value: (r) => summarise(r.details) },
  ];
  return { columns, toJson: auditJson, empty: 'no audit entries match' };
}

function summarise(details: AuditRow['details']): string {
  const d = typeof details === 'string' ? (JSON.parse(details) as Record<string, unknown>) : details;
  return Object.entries(d ?? {})
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join(' ');
}

/** Mutating commands: one row per account, with its outcome. */
export interface Outcome {
  user: string;
  outcome: string;
  message: string;
}

export const resultsView: ListView<Outcome> = {
  columns: [
    { header: 'USER', width: 16, value: (r) => r.user },
    { header: 'OUTCOME', width: 14, value: (r) => r.outcome, colour: (t) => (/refused|failed|not_found/.test(t) ? paint.bad(t) : paint.good(t)) },
    { header: 'MESSAGE', width: 50, value: (r) => r.message },
  ],
  toJson: (r) => ({ ...r }),
  empty: 'nothing to do',
};

export { shortDate };
