/**
 * Borderless tables for people: one header, rows streamed under it. Widths come from the rows seen
 * first; on a terminal they are fitted to its width by narrowing only the columns that may be cut, and
 * when stdout is not a terminal nothing is ever cut (a wider value just pushes its row along).
 * Written by hand: cli-table3 spent four fifths of a 100,000-row listing laying out cells.
 */
import type { ChalkInstance } from 'chalk';
import stringWidth from 'string-width';
import { cell } from './format.js';

export interface Column<T> {
  header: string;
  value: (row: T) => unknown;
  /**
   * Free text that may be cut (with "…") to fit a narrow terminal, down to this many columns. Columns
   * without it are never cut: ids, usernames, actions, addresses and times are copied into other commands.
   */
  shrink?: number;
  /** Optional colouring of the finished cell text (only on a colour terminal). */
  colour?: (text: string, row: T) => string;
}

/** Where a table goes: colour, and the terminal's width (undefined when stdout is not a terminal). */
export interface TableTarget {
  color: boolean;
  width?: number;
}

const GUTTER = '  ';
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/** Columns `text` takes on a terminal (wide East Asian characters count two). */
export function displayWidth(text: string): number {
  return PRINTABLE_ASCII.test(text) ? text.length : stringWidth(text);
}

/** `text` cut to `width` columns, ending in "…". */
function cut(text: string, width: number): string {
  if (displayWidth(text) <= width) return text;
  let out = '';
  let used = 0;
  for (const ch of text) {
    const w = displayWidth(ch);
    if (used + w > width - 1) break;
    out += ch;
    used += w;
  }
  return `${out}…`;
}

/** A table whose widths are fixed: `line()` renders any later row the same way. */
export interface Layout<T> {
  header: string;
  line(row: T): string;
}

/**
 * Fix the widths from `sample` (the first page): each column as wide as its widest value; on a terminal
 * too narrow for that, the widest columns that may be cut are narrowed first, never below their `shrink`.
 */
export function layoutTable<T>(columns: Column<T>[], sample: T[], target: TableTarget): Layout<T> {
  const widths = columns.map((c, i) => sample.reduce((w, row) => Math.max(w, displayWidth(cell(c.value(row)))), displayWidth(columns[i]!.header)));
  if (target.width !== undefined) {
    let over = widths.reduce((a, b) => a + b, 0) + GUTTER.length * (columns.length - 1) - target.width;
    while (over > 0) {
      let widest = -1;
      columns.forEach((c, i) => {
        const floor = Math.max(c.shrink ?? Infinity, 2);
        if (widths[i]! > floor && (widest < 0 || widths[i]! > widths[widest]!)) widest = i;
      });
      if (widest < 0) break; // only whole columns left: the line is wider than the terminal, nothing is cut
      widths[widest]!--;
      over--;
    }
  }
  const fit = target.width !== undefined;
  const render = (texts: string[], row: T | undefined): string => {
    let s = '';
    let debt = 0; // how far an over-wide cell pushed the line: later padding takes it back
    texts.forEach((raw, i) => {
      const c = columns[i]!;
      const text = fit && c.shrink !== undefined ? cut(raw, widths[i]!) : raw;
      const painted = target.color && row !== undefined && c.colour ? c.colour(text, row) : text;
      if (i === texts.length - 1) {
        s += painted;
        return;
      }
      const pad = widths[i]! - displayWidth(text) - debt;
      debt = pad < 0 ? -pad : 0;
      s += `${painted}${pad > 0 ? ' '.repeat(pad) : ''}${GUTTER}`;
    });
    return s.trimEnd();
  };
  const head = render(
    columns.map((c) => c.header),
    undefined,
  );
  return {
    header: target.color ? style('bold')(head) : head,
    line: (row) => render(columns.map((c) => cell(c.value(row))), row),
  };
}

/** A whole table (header and rows) as one string, no trailing spaces; for short documents. */
export function renderTable<T>(columns: Column<T>[], rows: T[], target: TableTarget): string {
  const layout = layoutTable(columns, rows, target);
  return [layout.header, ...rows.map(layout.line)].join('\n');
}

/** Key/value lines for one record (`users show`). */
export function renderFields(fields: Array<[string, unknown]>, color: boolean): string {
  const w = Math.max(...fields.map(([k]) => k.length));
  return fields.map(([k, v]) => `${color ? style('dim')(k.padEnd(w)) : k.padEnd(w)}  ${cell(v)}`).join('\n');
}

/**
 * chalk, loaded by setColour only when colour is on (its import, with its terminal detection, costs ~3 ms of a
 * 100 ms start). Without it every style is the text itself, as chalk's own at level 0.
 */
let chalk: ChalkInstance | undefined;
const style = (name: 'red' | 'yellow' | 'green' | 'dim' | 'bold') => (s: string) => (chalk ? chalk[name](s) : s);

export const paint = {
  bad: style('red'),
  warn: style('yellow'),
  good: style('green'),
  dim: style('dim'),
  bold: style('bold'),
};

/** Colour only on a TTY and never under NO_COLOR or --no-color (decided once, in config). */
export async function setColour(enabled: boolean): Promise<void> {
  if (!enabled) {
    chalk = undefined;
    return;
  }
  chalk = (await import('chalk')).default;
  chalk.level = Math.max(chalk.level, 1) as 1 | 2 | 3;
}
