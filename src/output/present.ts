/** Presenters: write a command's result to stdout in the chosen format and pick the exit code. */
import type { AppContext } from '../context.js';
import { UsageError } from '../errors.js';
import { csvLine } from './csv.js';
import { cell } from './format.js';
import { renderJson, renderList, writeOut, type ListView } from './render.js';
import { paint } from './table.js';
import type { Outcome } from './views.js';

export type Presenter<T> = (data: T, ctx: AppContext) => Promise<void>;

/** A streamed list of records. */
export function list<T>(view: ListView<T> | ((ctx: AppContext) => ListView<T>)): Presenter<AsyncIterable<T> | Iterable<T>> {
  return async (rows, ctx) => {
    const v = typeof view === 'function' ? view(ctx) : view;
    const n = await renderList(rows, v, { stdout: ctx.out.stdout, format: ctx.config.format, color: ctx.config.color });
    if (ctx.config.format === 'table') ctx.out.notice(n === 0 ? v.empty : `${n} shown`);
  };
}

/** `{"results": [...]}` of a mutating command; table mode prints one line per account. */
export const results: Presenter<{ results: Outcome[] }> = async (data, ctx) => {
  const { format } = ctx.config;
  if (format === 'json') return renderJson({ results: data.results }, ctx.out.stdout);
  if (format === 'csv') {
    await writeOut(ctx.out.stdout, csvLine(['user', 'outcome', 'message']));
    for (const r of data.results) await writeOut(ctx.out.stdout, csvLine([r.user, r.outcome, r.message]));
    return;
  }
  const colour = ctx.config.color;
  for (const r of data.results) {
    const bad = /refused|failed|not_found/.test(r.outcome);
    const outcome = colour ? (bad ? paint.bad(r.outcome) : paint.good(r.outcome)) : r.outcome;
    await writeOut(ctx.out.stdout, `${cell(r.user)}: ${outcome}${r.message ? ` - ${cell(r.message)}` : ''}\n`);
  }
};

/** One document: JSON as is, a text rendering for tables; CSV only where the document has rows. */
export function doc<T>(text: (data: T, color: boolean) => string, csv?: { header: string[]; rows: (data: T) => unknown[][] }): Presenter<T> {
  return async (data, ctx) => {
    const { format } = ctx.config;
    if (format === 'json') return renderJson(data, ctx.out.stdout);
    if (format === 'csv') {
      if (!csv) throw new UsageError('this command has no CSV form; use --format table or --json');
      await writeOut(ctx.out.stdout, csvLine(csv.header));
      for (const row of csv.rows(data)) await writeOut(ctx.out.stdout, csvLine(row));
      return;
    }
    const body = text(data, ctx.config.color);
    if (body) await writeOut(ctx.out.stdout, body.endsWith('\n') ? body : `${body}\n`);
  };
}
