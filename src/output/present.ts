/** Presenters: write a command's result to stdout in the chosen format and pick the exit code. */
import type { AppContext } from '../context.js';
import { UsageError } from '../errors.js';
import { csvLine } from './csv.js';
import { listTarget, renderJson, renderList, writeOut, type ListRows, type ListView } from './render.js';
import { briefTable, NOT_SUCCEEDED, OutcomeTally, resultLine } from './result-lines.js';
import type { Outcome } from './views.js';

export type Presenter<T> = ((data: T, ctx: AppContext) => Promise<void>) & {
  /** Set when the command has no CSV form: `--format csv` is refused before the command runs (program.ts). */
  noCsv?: true;
};

/** Said when --format csv is given to a command that has no CSV form. */
export const NO_CSV = 'this command has no CSV form; use --format table or --json';

/** A streamed list of records (one by one, or a page at a time). */
export function list<T>(view: ListView<T> | ((ctx: AppContext) => ListView<T>)): Presenter<ListRows<T>> {
  return async (rows, ctx) => {
    const v = typeof view === 'function' ? view(ctx) : view;
    const n = await renderList(rows, v, listTarget(ctx));
    if (ctx.config.format === 'table') ctx.out.notice(n === 0 ? v.empty : `${n} shown`);
  };
}

/** `{"results": [...]}` of a mutating command; table mode prints one line per account. */
export const results: Presenter<{ results: Outcome[] }> = (data, ctx) => showResults(data, ctx, false);

/** Results the command showed one by one as they happened (the helpdesk wizard): the table lines are out already; JSON and CSV print here. */
export const shownResults: Presenter<{ results: Outcome[] }> = async (data, ctx) => {
  if (ctx.config.format !== 'table') await showResults(data, ctx, false);
};

/** The same for bulk work (`outbox flush`): under --quiet a table lists only what did not succeed, then a summary line (nothing when all succeeded). */
export const bulkResults: Presenter<{ results: Outcome[] }> = (data, ctx) => showResults(data, ctx, true);

async function showResults(data: { results: Outcome[] }, ctx: AppContext, bulk: boolean): Promise<void> {
  const { format } = ctx.config;
  if (format === 'json') return renderJson({ results: data.results }, ctx.out.stdout);
  if (format === 'csv') {
    await writeOut(ctx.out.stdout, csvLine(['user', 'outcome', 'message']));
    for (const r of data.results) await writeOut(ctx.out.stdout, csvLine([r.user, r.outcome, r.message]));
    return;
  }
  const brief = bulk && briefTable(ctx);
  const tally = new OutcomeTally();
  let bad = 0;
  for (const r of data.results) {
    tally.add(r.outcome);
    if (NOT_SUCCEEDED.has(r.outcome)) bad++;
    if (!brief || NOT_SUCCEEDED.has(r.outcome)) await writeOut(ctx.out.stdout, resultLine(r, ctx.config.color));
  }
  // The cron convention: silent when all went well; the summary only explains what did not.
  if (brief && bad) await writeOut(ctx.out.stdout, tally.line());
}

/** One document: JSON as is, a text rendering for tables; CSV only where the document has rows. */
export function doc<T>(text: (data: T, color: boolean, width?: number) => string, csv?: { header: string[]; rows: (data: T) => unknown[][] }): Presenter<T> {
  const presenter: Presenter<T> = async (data, ctx) => {
    const { format } = ctx.config;
    if (format === 'json') return renderJson(data, ctx.out.stdout);
    if (format === 'csv') {
      if (!csv) throw new UsageError(NO_CSV);
      await writeOut(ctx.out.stdout, csvLine(csv.header));
      for (const row of csv.rows(data)) await writeOut(ctx.out.stdout, csvLine(row));
      return;
    }
    const body = text(data, ctx.config.color, ctx.out.columns);
    if (body) await writeOut(ctx.out.stdout, body.endsWith('\n') ? body : `${body}\n`);
  };
  if (!csv) presenter.noCsv = true;
  return presenter;
}
