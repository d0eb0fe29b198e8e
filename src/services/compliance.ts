/** `report compliance`: one aggregate per agency over agreements, signatures, emails, phones and long locks. */
import type { Knex } from 'knex';
import { iso } from '../output/format.js';

const DAY_MS = 86_400_000;
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
 * One pass over users (GROUP BY agency_id) joined to the pending renewal through its partial unique
 * index, then the agency names: a sequential scan, so a million accounts take well under a second on
 * a server. Agencies with no accounts are listed with zeros; accounts with no agency form one row.
 */
export async function complianceReport(db: Knex, options: ComplianceOptions): Promise<ComplianceReport> {
  const now = options.now;
  const in30 = new Date(now.getTime() + 30 * DAY_MS);
  const ago30 = new Date(now.getTime() - 30 * DAY_MS);
  const filter = options.agencyId === undefined ? '' : 'where u.agency_id = ?';
  const agencyFilter = options.agencyId === undefined ? '' : 'where a.id = ?';
  const bindings: Knex.RawBinding[] = [now, now, in30, ago30];
  if (options.agencyId !== undefined) bindings.push(options.agencyId);
  // The agencies side of the full join must be filtered too, or --agency would list the others with zeros.
  const agencies = options.agencyId === undefined ? 'agencies' : `(select * from agencies a ${agencyFilter})`;
  if (options.agencyId !== undefined) bindings.push(options.agencyId);
  const { rows } = (await db.raw(
    `
    with s as (
      select u.agency_id,
        count(*) as accounts,
        count(*) filter (where u.account_expires_at <= ?) as expired,
        count(*) filter (where u.account_expires_at > ? and u.account_expires_at <= ?) as expiring30d,
        count(*) filter (where g.id is not null
          and (g.user_signed_at is null or g.supervisor_signed_at is null or g.director_signed_at is null)) as missing_signatures,
        count(*) filter (where u.email is null or btrim(u.email) = '') as missing_email,
        count(*) filter (where btrim(coalesce(u.email, '')) <> '' and u.email_verified_at is null) as unverified_email,
        count(*) filter (where u.phone is null or btrim(u.phone) = '') as missing_phone,
        count(*) filter (where u.locked_at is not null and u.locked_at <= ?) as locked_over_30d
      from users u
      left join user_agreements g on g.user_id = u.id and g.completed_at is null
      ${filter}
      group by u.agency_id
    )
    select a.name as agency, coalesce(s.accounts, 0) as accounts, coalesce(s.expired, 0) as expired,
      coalesce(s.expiring30d, 0) as expiring30d, coalesce(s.missing_signatures, 0) as missing_signatures,
      coalesce(s.missing_email, 0) as missing_email, coalesce(s.unverified_email, 0) as unverified_email,
      coalesce(s.missing_phone, 0) as missing_phone, coalesce(s.locked_over_30d, 0) as locked_over_30d
    from s full join ${agencies} a on a.id = s.agency_id
    order by a.name is null, a.name
    `,
    bindings,
  )) as { rows: Array<Record<string, string | number | null>> };

  const agencyRows: ComplianceRow[] = rows.map((r) => ({
    agency: (r.agency as string | null) ?? NO_AGENCY,
    accounts: Number(r.accounts),
    expired: Number(r.expired),
    expiring30d: Number(r.expiring30d),
    missingSignatures: Number(r.missing_signatures),
    missingEmail: Number(r.missing_email),
    unverifiedEmail: Number(r.unverified_email),
    missingPhone: Number(r.missing_phone),
    lockedOver30d: Number(r.locked_over_30d),
  }));
  const totals = { accounts: 0, ...Object.fromEntries(COMPLIANCE_COUNTERS.map((c) => [c, 0])) } as Omit<ComplianceRow, 'agency'>;
  for (const row of agencyRows) {
    totals.accounts += row.accounts;
    for (const c of COMPLIANCE_COUNTERS) totals[c] += row[c];
  }
  return { generatedAt: iso(now)!, agencies: agencyRows, totals };
}
