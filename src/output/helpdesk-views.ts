/** Renderings for the helpdesk: the compliance report, the diagnose checklist. */
import { COMPLIANCE_COUNTERS, type ComplianceReport, type ComplianceRow } from '../services/helpdesk/compliance.js';
import type { Diagnosis } from '../services/helpdesk/diagnose.js';
import { renderTable, paint, type Column } from './table.js';
import { cell, when, wrap } from './format.js';

const HEADERS: Record<string, string> = {
  accounts: 'ACCTS',
  expired: 'EXPIRED',
  expiring30d: 'EXP<30D',
  missingSignatures: 'UNSIGND',
  missingEmail: 'NOEMAIL',
  unverifiedEmail: 'UNVERIF',
  missingPhone: 'NOPHONE',
  lockedOver30d: 'LCK>30D',
};

/** The CSV of `report compliance`: one row per agency (totals are the JSON's; a sum in a spreadsheet gives them). */
export const complianceCsv = {
  header: ['agency', 'accounts', ...COMPLIANCE_COUNTERS],
  rows: (r: ComplianceReport): unknown[][] => r.agencies.map((a) => [a.agency, a.accounts, ...COMPLIANCE_COUNTERS.map((c) => a[c])]),
};

/** The table of `report compliance`, with a totals line; non-zero problem counts are red on a terminal. */
export function complianceText(r: ComplianceReport, color: boolean, width?: number): string {
  const num = (key: keyof ComplianceRow, header: string): Column<ComplianceRow> => ({
    header,
    value: (row) => row[key],
    colour: (text) => (key !== 'accounts' && text !== '0' ? paint.bad(text) : text),
  });
  const columns: Column<ComplianceRow>[] = [
    { header: 'AGENCY', value: (row) => row.agency, shrink: 10 },
    num('accounts', HEADERS.accounts!),
    ...COMPLIANCE_COUNTERS.map((c) => num(c, HEADERS[c]!)),
  ];
  const rows: ComplianceRow[] = [...r.agencies, { agency: '(total)', ...r.totals }];
  const legend = [
    'EXP<30D: agreement expires within 30 days  UNSIGND: renewal lacks a signature',
    'UNVERIF: address not yet confirmed         LCK>30D: locked for more than 30 days',
  ];
  return [`compliance report, ${when(r.generatedAt)}`, renderTable(columns, rows, { color, width }), '', ...legend].join('\n');
}

const STATUS_PAINT = { ok: paint.good, warn: paint.warn, fail: paint.bad } as const;

/** The summary line, agreeing with the checks under it: a failed check is named even when a new link would work. */
export function diagnosisVerdict(d: Diagnosis): string {
  const failed = d.checks.filter((c) => c.status === 'fail').map((c) => c.id);
  if (!d.canReset) return `a reset link sent now would NOT work: fix ${failed.length ? failed.join(', ') : 'the failures'} first`;
  // A wrong-site or undelivered latest link fails its check, yet sending a new one is exactly its fix.
  if (failed.length) return `${failed.join(', ')} failed, but a new reset link sent now would reach the person and work: send one (fix below)`;
  return 'a reset link sent now would reach the person and work';
}

/** The diagnose checklist: one line per check (status, id, message), the fix command indented below. */
export function diagnosisText(d: Diagnosis, color: boolean): string {
  const verdict = diagnosisVerdict(d);
  const lines = [`${cell(d.user)}: ${color ? (d.canReset ? paint.good(verdict) : paint.bad(verdict)) : verdict}`];
  for (const c of d.checks) {
    const status = c.status.padEnd(4);
    // The prefix is 23 columns whatever the colour codes add (two spaces after the longest id,
    // recent_resets); the message wraps under itself.
    lines.push(wrap(`  ${color ? STATUS_PAINT[c.status](status) : status}  ${c.id.padEnd(13)}  `, cell(c.message), 80, 23));
    // A fix of several commands (`a && b`) shows one command a line, each ready to copy, under the message.
    (c.fix ? c.fix.split(' && ') : []).forEach((cmd, i) => lines.push(`${' '.repeat(23)}${i ? '     ' : 'fix: '}${color ? paint.bold(cell(cmd)) : cell(cmd)}`));
  }
  return lines.join('\n');
}

/** CSV of diagnose: one row per check. */
export const diagnosisCsv = {
  header: ['user', 'check', 'status', 'message', 'fix'],
  rows: (d: Diagnosis): unknown[][] => d.checks.map((c) => [d.user, c.id, c.status, c.message, c.fix]),
};
