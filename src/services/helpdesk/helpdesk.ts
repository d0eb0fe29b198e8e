/** What the helpdesk wizard needs besides diagnose: the person search and the fixing services. */
import type { AccountStore } from '../../store/types.js';
import { cell } from '../../output/format.js';
import { fullName, listAccounts } from '../accounts/accounts.js';
import { loadAddressRules } from './diagnose-links.js';

export { TICKET_RE } from '../../parse.js';

/** Up to 10 accounts matching part of a username, name or email, as prompt choices (display text sanitised). */
export async function findPeople(store: AccountStore, term: string | undefined): Promise<Array<{ name: string; value: number; description?: string }>> {
  const text = (term ?? '').trim();
  if (text.length < 2) return [];
  const out = [];
  for await (const r of listAccounts(store, { filter: { search: text }, limit: 10 })) {
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
}

/** The email, lockout and reset services, loaded only when the wizard reaches its fixes. */
export async function helpdeskServices(): Promise<HelpdeskServices> {
  const [rules, email, lockout, reset] = await Promise.all([loadAddressRules(), import('../email/email.js'), import('../accounts/lockout.js'), import('../links/reset.js')]);
  return { rules, setEmail: email.setEmail, unlockAccount: lockout.unlockAccount, sendResetLink: reset.sendResetLink };
}
