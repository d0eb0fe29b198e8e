/** How reset links and email checks look: `reset send` (with --print-link), `reset list`, `reset check`, `email check`. */
import type { AppContext } from '../context.js';
import type { EmailCheckResult } from '../commands/email.js';
import { CheckFailedError } from '../errors.js';
import type { CheckResult, ResetLinkRow } from '../services/links/reset-links.js';
import { linkState, resetLinkJson } from '../services/links/reset-links.js';
import { countsJson, type AgencyCounts, type EmailProblemRow } from '../services/email/email-check.js';
import { csvLine } from './csv.js';
import { cell, shortTime, when } from './format.js';
import { listTarget, renderJson, renderList, writeOut, type ListView } from './render.js';
import { paint, renderTable, type Column } from './table.js';
import type { Outcome } from './views.js';
import { results } from './present.js';
import { toJson } from './json.js';

type SendResult = { results: Array<Outcome & { link?: string }> };

/** `reset send`: the usual results; with --print-link the link on a line of its own (the only way a raw token reaches stdout). */
export async function resetSendPresenter(data: SendResult, ctx: AppContext): Promise<void> {
  const { format } = ctx.config;
  if (format === 'json') return renderJson(data, ctx.out.stdout);
  if (format === 'csv') {
    await writeOut(ctx.out.stdout, csvLine(['user', 'outcome', 'message', 'link']));
    for (const r of data.results) await writeOut(ctx.out.stdout, csvLine([r.user, r.outcome, r.message, r.link ?? '']));
    return;
  }
  await results(data, ctx);
  for (const r of data.results) if (r.link) await writeOut(ctx.out.stdout, `link: ${r.link}\n`);
}

const stateColour = (t: string) => (t === 'valid' ? paint.good(t) : paint.bad(t));

/** `reset list`: one line per link, newest first. */
export function resetListView(ctx: { clock: () => Date }): ListView<ResetLinkRow> {
  const now = ctx.clock();
  const columns: Column<ResetLinkRow>[] = [
    { header: 'ID', value: (r) => r.id },
    { header: 'CREATED (UTC)', value: (r) => shortTime(r.created_at) },
    { header: 'EXPIRES (UTC)', value: (r) => shortTime(r.expires_at) },
    { header: 'STATE', value: (r) => linkState(r, now), colour: stateColour },
    { header: 'WHY', value: (r) => why(r), shrink: 12 },
    { header: 'DELIVERY', value: (r) => r.delivery ?? 'not_sent' },
  ];
  return { columns, toJson: (r) => resetLinkJson(r, now), empty: 'no reset links for this account' };
}

function why(r: ResetLinkRow): string {
  if (r.used_at) return `used ${when(r.used_at)}`;
  if (!r.revoked_reason) return '';
  if (r.revoked_reason === 'superseded' && r.superseded_by_id) return `replaced by #${r.superseded_by_id}`;
  return r.revoked_reason.replace(/^undelivered.*/, 'undelivered');
}

/** `reset check` in table mode. */
export function checkText(r: CheckResult, color: boolean): string {
  const head = r.valid ? 'valid' : `not valid: ${r.reason}`;
  return `${color ? (r.valid ? paint.good(head) : paint.bad(head)) : head}${r.user ? ` (user ${cell(r.user)})` : ''}\n${cell(r.detail)}`;
}

const problemsView: ListView<EmailProblemRow> = {
  columns: [
    { header: 'ID', value: (r) => r.id },
    { header: 'USERNAME', value: (r) => r.username },
    { header: 'AGENCY', value: (r) => r.agency ?? '', shrink: 12 },
    { header: 'PROBLEMS', value: (r) => r.problems.join(', '), colour: paint.bad, shrink: 20 },
  ],
  toJson: (r) => ({ id: r.id, user: r.username, agency: r.agency, email: r.email, problems: r.problems, detail: r.detail || null }),
  empty: 'no account has an address or phone problem',
};

const countsColumns: Column<AgencyCounts>[] = [
  { header: 'AGENCY', value: (c) => c.agency, shrink: 12 },
  { header: 'ACCOUNTS', value: (c) => c.accounts },
  { header: 'MISSING', value: (c) => c.counts.missing_email },
  { header: 'INVALID', value: (c) => c.counts.invalid_email },
  { header: 'SHARED', value: (c) => c.counts.duplicate_email },
  { header: 'UNVERIF', value: (c) => c.counts.unverified },
  { header: 'NO PHONE', value: (c) => c.counts.missing_phone },
  { header: 'BAD PH', value: (c) => c.counts.invalid_phone },
];

/**
 * `email check`: rows stream as they are found, then the per-agency counts. The exit code depends on
 * rows not yet read when the handler returns, so the failure (exit 5) is raised here, after printing.
 */
export async function emailCheckPresenter(data: EmailCheckResult, ctx: AppContext): Promise<void> {
  const { format } = ctx.config;
  const out = ctx.out.stdout;
  const agencies = () => [...data.summary.agencies.values()].sort((a, b) => a.agency.localeCompare(b.agency));
  if (format === 'json') {
    let n = 0;
    await writeOut(out, '{"accounts": [');
    for await (const row of data.rows) await writeOut(out, `${n++ ? ',' : ''}\n${toJson(problemsView.toJson(row))}`);
    const tail = { agencies: agencies().map(countsJson), total: countsJson(data.summary.total) };
    await writeOut(out, `${n ? '\n' : ''}],\n${toJson(tail, 2).slice(2)}\n`);
  } else if (format === 'csv') {
    await writeOut(out, csvLine(['id', 'user', 'agency', 'email', 'problems', 'detail']));
    for await (const r of data.rows) await writeOut(out, csvLine([r.id, r.username, r.agency, r.email, r.problems.join(' '), r.detail]));
  } else {
    const n = await renderList(data.rows, problemsView, listTarget(ctx));
    const t = data.summary.total;
    await writeOut(out, `${n ? '\n' : ''}${renderTable(countsColumns, [...agencies(), t], { color: ctx.config.color, width: ctx.out.columns })}\n`);
    ctx.out.notice(`${t.withProblems} of ${t.accounts} accounts have an address or phone problem`);
  }
  const bad = data.summary.total.withProblems;
  if (data.failIfAny && bad > 0) throw new CheckFailedError(`${bad} account(s) have an address or phone problem (--fail-if-any)`);
}
