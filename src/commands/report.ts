/** `report compliance [--agency <name>]`: per agency, what keeps accounts from working or compliant. */
import type { AppContext } from '../context.js';
import { resolveAgency } from '../services/accounts/accounts.js';
import { complianceReport, type ComplianceReport } from '../services/helpdesk/compliance.js';

export interface ComplianceOpts {
  agency?: string;
}

export async function compliance(opts: ComplianceOpts, ctx: AppContext): Promise<ComplianceReport> {
  const store = await ctx.store();
  const agencyId = opts.agency === undefined ? undefined : await resolveAgency(store, opts.agency);
  return complianceReport(store, { now: ctx.clock(), agencyId });
}
