/**
 * Results of mutating commands as table lines. Under `--quiet` a table of bulk results (cron's
 * `-q expire --yes`) lists only the rows that did not succeed, then one summary line, and nothing at all
 * when every row succeeded, so a healthy night mails nothing; JSON and CSV are for programs and keep every row.
 */
import type { AppContext } from '../context.js';
import { cell } from './format.js';
import { paint } from './table.js';
import type { Outcome } from './views.js';

/** Outcomes that did not succeed: the rows a bulk run exits 4 for, and the only rows --quiet lists. */
export const NOT_SUCCEEDED: ReadonlySet<string> = new Set(['refused', 'failed', 'not_found']);

/** Whether this run shows the short form: --quiet, a table, and bulk work (not one named account). */
export function briefTable(ctx: AppContext, single = false): boolean {
  return ctx.config.quiet && ctx.config.format === 'table' && !single;
}

/** "jdoe: unlocked - message", the outcome coloured on a colour terminal. */
export function resultLine(r: Outcome, color: boolean): string {
  const outcome = color ? (NOT_SUCCEEDED.has(r.outcome) ? paint.bad(r.outcome) : paint.good(r.outcome)) : r.outcome;
  return `${cell(r.user)}: ${outcome}${r.message ? ` - ${cell(r.message)}` : ''}\n`;
}

/** Pass results through, counting each outcome into `counts` (for a summary read once they are done). */
export async function* tallied(rows: AsyncIterable<Outcome> | Iterable<Outcome>, counts: Record<string, number>): AsyncGenerator<Outcome> {
  for await (const r of rows) {
    counts[r.outcome] = (counts[r.outcome] ?? 0) + 1;
    yield r;
  }
}

/** Counts outcomes in the order they first appear, for the summary line. */
export class OutcomeTally {
  private readonly counts = new Map<string, number>();
  private n = 0;

  add(outcome: string): void {
    this.counts.set(outcome, (this.counts.get(outcome) ?? 0) + 1);
    this.n++;
  }

  /** "3000 results: 2998 expired, 2 failed" */
  line(): string {
    const parts = [...this.counts].map(([outcome, k]) => `${k} ${outcome}`);
    return `${this.n} result${this.n === 1 ? '' : 's'}${parts.length ? `: ${parts.join(', ')}` : ''}\n`;
  }
}
