/** What the helpdesk wizard needs besides diagnose: the person search and the fixing services. */
import type { AppContext } from '../../context.js';
import type { AccountStore } from '../../store/types.js';
import { cell, when } from '../../output/format.js';
import { NOT_SUCCEEDED } from '../../output/result-lines.js';
import type { Outcome } from '../../output/views.js';
import { fullName, type AccountRow } from '../accounts/accounts.js';
import { maskEmail, writeAudit } from '../accounts/audit.js';
import type { Diagnosis } from './diagnose.js';
import { loadAddressRules } from './diagnose-links.js';

export { TICKET_RE } from '../../parse.js';

/** Up to 10 accounts matching part of a username, name or email, as prompt choices (display text sanitised). */
export async function findPeople(store: AccountStore, term: string | undefined): Promise<Array<{ name: string; value: number; description?: string }>> {
  const text = (term ?? '').trim();
  if (text.length < 2) return [];
  const out = [];
  for await (const r of store.page({ search: text }, 'id', 10)) {
    const status = r.locked_at ? ` [locked: ${r.lock_reason ?? 'unknown'}]` : '';
    out.push({
      name: `${cell(r.username)} - ${cell(fullName(r))} - ${cell(r.email ?? '(no email)')}${status}`,
      value: r.id,
      description: cell(r.agency ?? '(no agency)'),
    });
  }
  return out;
}

export interface HelpdeskServices {
  rules: Awaited<ReturnType<typeof loadAddressRules>>;
  setEmail: typeof import('../email/email.js').setEmail;
  unlockAccount: typeof import('../accounts/lockout.js').unlockAccount;
  sendResetLink: typeof import('../links/reset.js').sendResetLink;
  addressProblem: typeof import('../email/email.js').addressProblem;
  checkResetLink: typeof import('../links/reset-links.js').checkResetLink;
}

/** The email, lockout and reset services, loaded only when the wizard reaches its fixes. */
export async function helpdeskServices(): Promise<HelpdeskServices> {
  const [rules, email, lockout, reset, links] = await Promise.all([
    loadAddressRules(), import('../email/email.js'), import('../accounts/lockout.js'), import('../links/reset.js'), import('../links/reset-links.js'),
  ]);
  return {
    rules, setEmail: email.setEmail, unlockAccount: lockout.unlockAccount, sendResetLink: reset.sendResetLink,
    addressProblem: email.addressProblem, checkResetLink: links.checkResetLink,
  };
}

/** Who put an administrator's lock on, when and why, from the latest `lock` entry of the audit trail. */
export async function adminLockStory(store: AccountStore, user: AccountRow): Promise<string> {
  const row = (await store.knex('audit_log').where({ user_id: user.id, action: 'lock' }).orderBy('id', 'desc').first('actor', 'at', 'ticket', 'details')) as
    | { actor: string; at: Date; ticket: string | null; details: Record<string, unknown> | string }
    | undefined;
  const since = `since ${when(user.locked_at)}`;
  if (!row) return `locked by an administrator ${since}; who and why are not in the audit trail: ask your HMIS administrator before unlocking`;
  const details = typeof row.details === 'string' ? (JSON.parse(row.details) as Record<string, unknown>) : row.details;
  const note = typeof details.note === 'string' && details.note.trim() ? `: "${cell(details.note)}"` : ' (no reason given)';
  return `locked by ${cell(row.actor)} on ${when(row.at)}${row.ticket ? ` (ticket ${cell(row.ticket)})` : ''}${note}`;
}

/** Addresses in free text as the audit trail keeps them (j***@agency.org). */
export function maskEmails(text: string): string {
  return text.replace(/[^\s@"'(),;<>]+@[^\s@"'(),;<>]+/g, (m) => maskEmail(m) ?? m);
}

/** What one helpdesk sitting did, for its `helpdesk.session` audit entry. */
export interface SessionRecord {
  ticket: string;
  user: AccountRow;
  /** The diagnosis shown at the start. */
  found: Diagnosis;
  /** What `reset check` said of the link the person has (never the token), or null when skipped. */
  link: { valid: boolean; reason: string | null; belongsTo?: string } | null;
  results: Outcome[];
  /** Checks still failing at the end (ids). */
  stillFailing: string[];
  /** The step Ctrl-C ended, if it did. */
  cancelled?: string;
}

/**
 * One audit row per ticket sitting, whatever it changed (nothing, a refused fix, or fixes that have their own
 * rows): what was checked and found, so `audit --ticket` tells the whole story. Addresses masked, no tokens.
 */
export async function recordSession(ctx: AppContext, s: SessionRecord): Promise<void> {
  const store = await ctx.store();
  await writeAudit(store.knex, {
    actor: ctx.config.actor,
    action: 'helpdesk.session',
    userId: s.user.id,
    ticket: s.ticket,
    details: {
      checks: Object.fromEntries(s.found.checks.map((c) => [c.id, c.status])),
      found: s.found.checks.filter((c) => c.status !== 'ok').map((c) => `${c.id}: ${maskEmails(c.message)}`),
      canReset: s.found.canReset,
      link: s.link,
      done: s.results.map((r) => r.outcome),
      ...refusals(s.results),
      stillFailing: s.stillFailing,
      ...(s.cancelled ? { cancelled: s.cancelled } : {}),
    },
  });
}

function refusals(results: Outcome[]): { refused?: string[] } {
  const refused = results.filter((r) => NOT_SUCCEEDED.has(r.outcome)).map((r) => maskEmails(r.message));
  return refused.length ? { refused } : {};
}
