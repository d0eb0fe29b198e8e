/**
 * `email check`: accounts whose address or phone would stop a reset link from reaching them. Streams
 * accounts page by page (the address rules run in JS), so a million accounts keep memory flat: the pages of a
 * listing (8,000 rows of the fields it shows), not whole accounts 40,000 at a time (which held ~400 MB).
 */
import type { AccountStore, ListedAccount } from '../../store/types.js';
import { isPhone, parseEmailAddress } from './email-address.js';

export type EmailProblem = 'missing_email' | 'invalid_email' | 'duplicate_email' | 'unverified' | 'missing_phone' | 'invalid_phone';
export const PROBLEMS: EmailProblem[] = ['missing_email', 'invalid_email', 'duplicate_email', 'unverified', 'missing_phone', 'invalid_phone'];

export interface EmailProblemRow {
  id: number;
  username: string;
  agency: string | null;
  email: string | null;
  problems: EmailProblem[];
  /** For invalid_email: the parser's reason; for duplicate_email: how many accounts share it. */
  detail: string;
}

export interface AgencyCounts {
  agency: string;
  accounts: number;
  withProblems: number;
  counts: Record<EmailProblem, number>;
}

/** Filled in while the rows stream; complete once the iterator is exhausted. */
export interface EmailCheckSummary {
  agencies: Map<string, AgencyCounts>;
  total: AgencyCounts;
}

const NO_AGENCY = '(no agency)';

function emptyCounts(agency: string): AgencyCounts {
  return { agency, accounts: 0, withProblems: 0, counts: Object.fromEntries(PROBLEMS.map((p) => [p, 0])) as Record<EmailProblem, number> };
}

export function newSummary(): EmailCheckSummary {
  return { agencies: new Map(), total: emptyCounts('all agencies') };
}

/** The problems of one account. */
export function accountProblems(row: ListedAccount, shared: Map<string, number>): { problems: EmailProblem[]; detail: string } {
  const problems: EmailProblem[] = [];
  const details: string[] = [];
  if (!row.email) problems.push('missing_email');
  else {
    const parsed = parseEmailAddress(row.email);
    if (!parsed.ok) {
      problems.push('invalid_email');
      details.push(`address ${parsed.reason}`);
    }
    const n = shared.get(row.email.trim().toLowerCase());
    if (n) {
      problems.push('duplicate_email');
      details.push(`address shared by ${n} accounts`);
    }
    if (parsed.ok && !row.email_verified_at) problems.push('unverified');
  }
  // The address the account waits to confirm (Devise reconfirmable): the application refuses it while another account has it.
  const waiting = row.pending_email && shared.get(row.pending_email.trim().toLowerCase());
  if (waiting) {
    if (!problems.includes('duplicate_email')) problems.push('duplicate_email');
    details.push(`the address waiting for confirmation is shared by ${waiting} accounts`);
  }
  if (!row.phone) problems.push('missing_phone');
  else if (!isPhone(row.phone)) problems.push('invalid_phone');
  return { problems, detail: details.join('; ') };
}

/** Stream the accounts with problems, counting every account per agency into `summary`. */
export async function* checkEmails(store: AccountStore, filter: { agencyId?: number }, summary: EmailCheckSummary): AsyncGenerator<EmailProblemRow> {
  const shared = await store.sharedAddresses();
  for await (const page of store.listPages(filter, 'id')) {
    for (const row of page) {
      const agency = row.agency ?? NO_AGENCY;
      let counts = summary.agencies.get(agency);
      if (!counts) summary.agencies.set(agency, (counts = emptyCounts(agency)));
      const { problems, detail } = accountProblems(row, shared);
      for (const c of [counts, summary.total]) {
        c.accounts++;
        if (problems.length) c.withProblems++;
        for (const p of problems) c.counts[p]++;
      }
      if (problems.length) yield { id: row.id, username: row.username, agency: row.agency, email: row.email, problems, detail };
    }
  }
}

/** The JSON record of one agency's counts. */
export function countsJson(c: AgencyCounts): Record<string, unknown> {
  return {
    agency: c.agency,
    accounts: c.accounts,
    withProblems: c.withProblems,
    missingEmail: c.counts.missing_email,
    invalidEmail: c.counts.invalid_email,
    duplicateEmail: c.counts.duplicate_email,
    unverified: c.counts.unverified,
    missingPhone: c.counts.missing_phone,
    invalidPhone: c.counts.invalid_phone,
  };
}
