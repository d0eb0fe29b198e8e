/** Borderless tables that fit 80 columns; cli-table3 and chalk live only in output/. */
import chalk from 'chalk';
import Table from 'cli-table3';
import { cell } from './format.js';

export interface Column<T> {
  header: string;
  width: number;
  value: (row: T) => unknown;
  /** Optional colouring of the finished cell text (only on a colour terminal). */
  colour?: (text: string, row: T) => string;
}

const BORDERLESS = {
  top: '', 'top-mid': '', 'top-left': '', 'top-right': '', bottom: '', 'bottom-mid': '', 'bottom-left': '',
  'bottom-right': '', left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: '',
};

/** Render one page of rows as a table string (no trailing spaces). */
export function renderTable<T>(columns: Column<T>[], rows: T[], color: boolean): string {
  const table = new Table({
    head: columns.map((c) => (color ? chalk.bold(c.header) : c.header)),
    colWidths: columns.map((c) => c.width),
    chars: BORDERLESS,
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 1 },
    wordWrap: false,
  });
  for (const row of rows) {
    table.push(
      columns.map((c) => {
        const text = truncate(cell(c.value(row)), c.width - 1);
        return color && c.colour ? c.colour(text, row) : text;
      }),
    );
  }
  return table
    .toString()
    .split('\n')
    .map((l) => l.trimEnd())
    .join('\n');
}

function truncate(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, Math.max(0, width - 1))}…`;
}

/** Key/value lines for one record (`users show`). */
export function renderFields(fields: Array<[string, unknown]>, color: boolean): string {
  const w = Math.max(...fields.map(([k]) => k.length));
  return fields.map(([k, v]) => `${color ? chalk.dim(k.padEnd(w)) : k.padEnd(w)}  ${cell(v)}`).join('\n');
}

export const paint = {
  bad: (s: string) => chalk.red(s),
  warn: (s: string) => chalk.yellow(s),
  good: (s: string) => chalk.green(s),
  dim: (s: string) => chalk.dim(s),
  bold: (s: string) => chalk.bold(s),
};

/** Colour only on a TTY and never under NO_COLOR or --no-color (decided once, in config). */
export function setColour(enabled: boolean): void {
  chalk.level = enabled ? Math.max(chalk.level, 1) as 1 | 2 | 3 : 0;
}
