/** `report compliance`: one aggregate per agency over agreements, signatures, emails, phones and long locks. */
import type { AccountStore, ComplianceCounts } from '../../store/types.js';
import { iso } from '../../output/format.js';

export const NO_AGENCY = '(no agency)';

/** The counters of one agency row, in the order the CSV and table show them. */
export const COMPLIANCE_COUNTERS = [
  'expired',
  'expiring30d',
  'missingSignatures',
  'missingEmail',
  'unverifiedEmail',
  'missingPhone',
  'lockedOver30d',
] as const;
export type ComplianceCounter = (typeof COMPLIANCE_COUNTERS)[number];

export type ComplianceRow = { agency: string; accounts: number } & Record<ComplianceCounter, number>;

export interface ComplianceReport {
  generatedAt: string;
  agencies: ComplianceRow[];
  totals: Omit<ComplianceRow, 'agency'>;
}

export interface ComplianceOptions {
  now: Date;
  /** Only this agency (its id, resolved by the caller). */
  agencyId?: number;
}

/**
 * One pass over the accounts (GROUP BY agency, through the store) joined to the pending renewal, then the
 * agency names: a sequential scan, so a million accounts take well under a second on a server. Agencies with
 * no accounts are listed with zeros; accounts with no agency form one row, last.
 */
export async function complianceReport(store: AccountStore, options: ComplianceOptions): Promise<ComplianceReport> {
  const counts = await store.complianceCounts(options.now, options.agencyId);
  const agencies = await store.agencies(options.agencyId === undefined ? undefined : [options.agencyId]);
  const byAgency = new Map(counts.map((c) => [c.agencyId, c]));
  const zero = { accounts: 0, ...Object.fromEntries(COMPLIANCE_COUNTERS.map((c) => [c, 0])) } as Omit<ComplianceRow, 'agency'>;
  const row = (agency: string, c: ComplianceCounts | undefined): ComplianceRow => {
    const { agencyId: _, ...n } = c ?? { agencyId: null, ...zero };
    return { agency, ...n };
  };
  const named = new Set(agencies.map((a) => a.id));
  const agencyRows: ComplianceRow[] = agencies.map((a) => row(a.name, byAgency.get(a.id)));
  // Accounts whose agency is gone (or who have none) are counted, not lost.
  const orphans = counts.filter((c) => c.agencyId === null || !named.has(c.agencyId));
  if (orphans.length) {
    const sum = { ...zero };
    for (const c of orphans) for (const k of ['accounts', ...COMPLIANCE_COUNTERS] as const) sum[k] += c[k];
    agencyRows.push({ agency: NO_AGENCY, ...sum });
  }
  const totals = { accounts: 0, ...Object.fromEntries(COMPLIANCE_COUNTERS.map((c) => [c, 0])) } as Omit<ComplianceRow, 'agency'>;
  for (const row of agencyRows) {
    totals.accounts += row.accounts;
    for (const c of COMPLIANCE_COUNTERS) totals[c] += row[c];
  }
  return { generatedAt: iso(options.now)!, agencies: agencyRows, totals };
}
