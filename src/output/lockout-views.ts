/** Renderers for lockout, expiry and agreement commands: streamed results, the expiring list, agreements. */
import type { AppContext } from '../context.js';
import { CheckFailedError, NotFoundError, OperationalError, PartialFailureError, UsageError } from '../errors.js';
import type { ExpiringRow } from '../services/accounts/expiry.js';
import { accountJson } from '../services/accounts/accounts.js';
import type { AgreementView } from '../services/accounts/agreements.js';
import { csvLine } from './csv.js';
import { cell, count, shortDate, when } from './format.js';
import { listTarget, renderList, writeOut, type ListRows, type ListView } from './render.js';
import { briefTable, NOT_SUCCEEDED as BAD, OutcomeTally, resultLine } from './result-lines.js';
import { paint, renderFields } from './table.js';
import type { Outcome } from './views.js';
import { toJson } from './json.js';

/** What a bulk-capable mutating command hands to its presenter: results produced while they print. */
export interface ResultStream {
  results: AsyncIterable<Outcome> | Iterable<Outcome>;
  /** One named account: a bad outcome exits 2/3/1 instead of 4. */
  single?: boolean;
  /** Extra top-level JSON fields, read after the results are done (counts, running). */
  summary?: () => Record<string, unknown>;
  /** A notice on stderr after the results. */
  after?: () => string | undefined;
}

/**
 * `{"results": [...]}` written row by row, so a bulk run over many accounts never sits in memory.
 * A bulk table under --quiet lists only the rows that did not succeed, then one summary line (nothing
 * at all when every row succeeded or there was none).
 */
export async function streamResults(data: ResultStream, ctx: AppContext): Promise<void> {
  const { format, color } = ctx.config;
  const out = ctx.out.stdout;
  const bad: Outcome[] = [];
  const brief = briefTable(ctx, data.single);
  const tally = new OutcomeTally();
  let n = 0;
  if (format === 'json') await writeOut(out, '{\n  "results": [');
  if (format === 'csv') await writeOut(out, csvLine(['user', 'outcome', 'message']));
  for await (const r of data.results) {
    if (BAD.has(r.outcome)) bad.push(r);
    tally.add(r.outcome);
    if (format === 'json') await writeOut(out, `${n === 0 ? '\n' : ',\n'}    ${toJson(r)}`);
    else if (format === 'csv') await writeOut(out, csvLine([r.user, r.outcome, r.message]));
    else if (!brief || BAD.has(r.outcome)) await writeOut(out, resultLine(r, color));
    n++;
  }
  // The cron convention: silent when all went well; the summary only explains what did not.
  if (brief && bad.length) await writeOut(out, tally.line());
  if (format === 'json') {
    const extra = data.summary?.() ?? {};
    const tail = Object.entries(extra).map(([k, v]) => `,\n  ${toJson(k)}: ${toJson(v)}`).join('');
    await writeOut(out, `${n ? '\n  ' : ''}]${tail}\n}\n`);
  }
  const note = data.after?.();
  if (note) ctx.out.notice(note);
  if (!bad.length) return;
  if (data.single) {
    const first = bad[0]!;
    if (first.outcome === 'refused') throw new UsageError(`${first.user}: refused; nothing was changed`);
    if (first.outcome === 'not_found') throw new NotFoundError(`${first.user}: ${first.message}`);
    throw new OperationalError(`${first.user}: ${first.message}`);
  }
  const list = bad.slice(0, 10).map((r) => `${r.user} (${r.outcome})`).join(', ');
  throw new PartialFailureError(`${bad.length} of ${count(n, 'account')} did not succeed: ${list}${bad.length > 10 ? ', …' : ''}`);
}

/** `expiring`: soonest first, with days left and the signatures still missing. */
export function expiringView(): ListView<ExpiringRow> {
  return {
    columns: [
      { header: 'ID', value: (r) => r.id },
      { header: 'USERNAME', value: (r) => r.username },
      { header: 'AGENCY', value: (r) => r.agency ?? '', shrink: 12 },
      { header: 'EXPIRES', value: (r) => shortDate(r.account_expires_at) },
      { header: 'DAYS', value: (r) => r.daysLeft, colour: (t) => (Number(t) < 0 ? paint.bad(t) : Number(t) <= 7 ? paint.warn(t) : t) },
      // The roles --by takes, so the missing signature can be typed straight back.
      { header: 'MISSING', value: (r) => r.missing.join(',') || '-' },
    ],
    toJson: (r) => ({ ...accountJson(r), daysLeft: r.daysLeft, missingSignatures: r.missing }),
    empty: 'no agreements expire in that time',
  };
}

/** The expiring list; with --fail-if-any, exit 5 when it is not empty (after printing it). */
export async function expiringList(data: { rows: ListRows<ExpiringRow>; failIfAny: boolean; within: string; includeExpired?: boolean }, ctx: AppContext): Promise<void> {
  const v = expiringView();
  const n = await renderList(data.rows, v, listTarget(ctx));
  if (ctx.config.format === 'table') ctx.out.notice(n === 0 ? v.empty : `${n} shown`);
  if (data.failIfAny && n > 0) {
    throw new CheckFailedError(`${n} account(s) listed: the agreement expires within ${data.within}${data.includeExpired ? ' or has expired' : ''}`);
  }
}

/** `agreement show` as text. */
export function agreementText(a: AgreementView, color: boolean): string {
  const sig = (role: 'user' | 'supervisor' | 'director') => {
    const s = a.signatures[role];
    return s.at ? `${when(s.at)} (recorded by ${s.by ?? 'unknown'})` : color ? paint.bad('missing') : 'missing';
  };
  const fields: Array<[string, unknown]> = [
    ['user', a.user],
    ['status', a.status],
    ['expires', a.expiresAt ? `${shortDate(a.expiresAt)} (${a.daysLeft! < 0 ? `${count(-a.daysLeft!, 'day')} ago` : `${count(a.daysLeft!, 'day')} left`})` : '(no expiry)'],
    ['term started', shortDate(a.termStartedAt) || '(no renewal started)'],
    ['user signed', sig('user')],
    ['supervisor signed', `${sig('supervisor')}${a.supervisor ? `  [${a.supervisor}]` : ''}`],
    ['director signed', `${sig('director')}${a.director ? `  [${a.director}]` : ''}`],
    ['missing', a.missingSignatures.join(', ') || 'nothing'],
  ];
  if (a.lastRenewal) fields.push(['last renewal', `${shortDate(a.lastRenewal.completedAt)}, until ${shortDate(a.lastRenewal.renewedUntil)}`]);
  const out = [renderFields(fields, color)];
  if (a.next.length) out.push('', 'to record the missing signatures:', ...a.next.map((c) => `  ${cell(c)}`));
  return out.join('\n');
}

