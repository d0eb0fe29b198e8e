/** How each kind of result looks: table columns and the JSON record of CONTRACT.md. */
import type { ListedAccount } from '../services/accounts/accounts.js';
import { accountJson, fullName } from '../services/accounts/accounts.js';
import type { AuditRow } from '../services/accounts/audit.js';
import { auditJson } from '../services/accounts/audit.js';
import { shortTime } from './format.js';
import type { ListView } from './render.js';
import { paint, type Column } from './table.js';

const statusColour = (text: string) => (text.startsWith('locked') || text === 'expired' ? paint.bad(text) : paint.good(text));

/**
 * An account's state in the words the filters take: `locked (failed_logins)` is what `locked --reason`
 * and `unlock --all --reason` accept.
 */
export function accountStatus(row: ListedAccount, now: Date): string {
  if (row.locked_at) return `locked (${row.lock_reason ?? 'unknown reason'})`;
  if (row.account_expires_at && Date.parse(row.account_expires_at) <= now.getTime()) return 'expired';
  return 'active';
}

/** `users list`: ids, usernames and states are never cut; on a narrow terminal names and addresses give way. */
export function accountsView(ctx: { clock: () => Date }): ListView<ListedAccount> {
  const now = ctx.clock();
  const columns: Column<ListedAccount>[] = [
    { header: 'ID', value: (r) => r.id },
    { header: 'USERNAME', value: (r) => r.username },
    { header: 'NAME', value: (r) => fullName(r), shrink: 10 },
    { header: 'EMAIL', value: (r) => r.email ?? '(none)', shrink: 16 },
    { header: 'STATUS', value: (r) => accountStatus(r, now), colour: statusColour },
  ];
  return { columns, toJson: accountJson, empty: 'no accounts match' };
}

/** `locked`: why and since when. */
export function lockedView(): ListView<ListedAccount> {
  const columns: Column<ListedAccount>[] = [
    { header: 'ID', value: (r) => r.id },
    { header: 'USERNAME', value: (r) => r.username },
    // Six-digit ids and long usernames still leave a row within 80 columns (they are never cut).
    { header: 'NAME', value: (r) => fullName(r), shrink: 8 },
    { header: 'AGENCY', value: (r) => r.agency ?? '', shrink: 8 },
    // The values --reason takes, so what is read here can be typed back.
    { header: 'REASON', value: (r) => r.lock_reason ?? 'unknown', colour: paint.bad },
    { header: 'LOCKED (UTC)', value: (r) => shortTime(r.locked_at) },
  ];
  return { columns, toJson: accountJson, empty: 'no locked accounts' };
}

/** `audit`: newest first. */
export function auditView(): ListView<AuditRow> {
  const columns: Column<AuditRow>[] = [
    { header: 'AT (UTC)', value: (r) => shortTime(r.at) },
    { header: 'ACTOR', value: (r) => r.actor },
    // Who the database says wrote it: --actor is only what the operator typed.
    { header: 'DB USER', value: (r) => r.db_user ?? '-' },
    { header: 'ACTION', value: (r) => r.action },
    { header: 'USER', value: (r) => r.username ?? (r.user_id ? `#${r.user_id}` : '') },
    { header: 'TICKET', value: (r) => r.ticket ?? '' },
    { header: 'DETAILS', value: (r) => summarise(r.details), shrink: 8 },
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
