/** Turn command results into table, JSON or CSV on stdout; lists stream page by page. */
import type { Writable } from 'node:stream';
import type { OutputFormat } from '../config.js';
import type { AppContext } from '../context.js';
import { csvLine } from './csv.js';
import { layoutTable, type Column, type Layout } from './table.js';
import { AccountJson } from '../store/types.js';
import { escapeJsonText, toJson } from './json.js';

/** How a list of records is shown: table columns, and the JSON/CSV record for each row. */
export interface ListView<T> {
  columns: Column<T>[];
  toJson: (row: T) => Record<string, unknown>;
  /** Shown on stderr in table mode when nothing matched. */
  empty: string;
}

export interface RenderTarget {
  stdout: Writable;
  format: OutputFormat;
  color: boolean;
  /** The terminal's width; undefined when stdout is not a terminal (then no cell is ever cut). */
  width?: number;
  /** Rows a table reads before it fixes its column widths and prints its one header. */
  firstPage?: number;
}

function write(stream: Writable, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (stream.write(text)) return resolve();
    // Wait for drain; whichever of drain/error comes first removes the other listener (no leak).
    const onDrain = () => {
      stream.off('error', onError);
      resolve();
    };
    const onError = (err: Error) => {
      stream.off('drain', onDrain);
      reject(err);
    };
    stream.once('drain', onDrain);
    stream.once('error', onError);
  });
}

/** Collects small writes into ~64 KB chunks: one write per row costs more than the rows themselves. */
function chunked(stream: Writable): { add(text: string): Promise<void> | undefined; end(): Promise<void> } {
  let buf = '';
  return {
    // Nothing to wait for until a chunk is full: no promise (and no await) per small piece.
    add: (text) => {
      buf += text;
      if (buf.length < 65_536) return undefined;
      const b = buf;
      buf = '';
      return write(stream, b);
    },
    end: async () => {
      if (buf) await write(stream, buf);
      buf = '';
    },
  };
}

/** A list that arrives a page at a time (a database page): rendered a page per step, with no await per row. */
export interface Pages<T> {
  readonly pages: AsyncIterable<readonly T[]>;
}

/** What renderList takes: rows one by one, or whole pages. */
export type ListRows<T> = AsyncIterable<T> | Iterable<T> | Pages<T>;

async function* pagesOf<T>(rows: ListRows<T>): AsyncGenerator<readonly T[]> {
  if ('pages' in rows) yield* rows.pages;
  else if (Symbol.iterator in rows) yield [...rows];
  else for await (const row of rows) yield [row];
}

/** Stream rows in the chosen format; returns how many rows were written. */
export async function renderList<T>(rows: ListRows<T>, view: ListView<T>, target: RenderTarget): Promise<number> {
  const { stdout, format } = target;
  const out = chunked(stdout);
  let count = 0;
  if (format === 'json') {
    await out.add('[');
    for await (const page of pagesOf(rows)) {
      for (const row of page) {
        // Each record goes straight into the ~64 KB chunk (awaited only when one is written): short-lived strings.
        // An account the database wrote as JSON already (store/sql/mapping.ts accountJsonSql) is printed as it came.
        const json = row instanceof AccountJson ? escapeJsonText(row.json) : toJson(view.toJson(row));
        const full = out.add(`${count++ === 0 ? '\n' : ',\n'}${json}`);
        if (full) await full;
      }
    }
    await out.add(count === 0 ? ']\n' : '\n]\n');
    await out.end();
    return count;
  }
  if (format === 'csv') {
    let keys: string[] | undefined;
    for await (const page of pagesOf(rows)) {
      for (const row of page) {
        const record = view.toJson(row);
        if (!keys) {
          keys = Object.keys(record);
          await out.add(csvLine(keys));
        }
        const full = out.add(csvLine(keys.map((k) => record[k])));
        if (full) await full;
      }
      count += page.length;
    }
    if (!keys) await out.add(csvLine(view.columns.map((c) => c.header.toLowerCase())));
    await out.end();
    return count;
  }
  // One header, then every row under it: widths are fixed from the first page, so the output can be
  // piped to grep, sort or wc -l and a million rows never wait for the last one.
  const firstPage = target.firstPage ?? 500;
  const first: T[] = [];
  let layout: Layout<T> | undefined;
  const lines = async (list: readonly T[], from = 0) => {
    for (let i = from; i < list.length; i++) {
      const full = out.add(`${layout!.line(list[i]!)}\n`);
      if (full) await full;
    }
  };
  /** The header and the rows held for the widths. */
  const start = async () => {
    layout = layoutTable(view.columns, first, target);
    await out.add(`${layout.header}\n`);
    await lines(first);
    first.length = 0;
  };
  for await (const page of pagesOf(rows)) {
    count += page.length;
    if (layout) {
      await lines(page);
      continue;
    }
    // The widths come from exactly the first `firstPage` rows, however the pages fall.
    const take = Math.min(firstPage - first.length, page.length);
    for (let i = 0; i < take; i++) first.push(page[i]!);
    if (first.length < firstPage) continue;
    await start();
    await lines(page, take);
  }
  if (!layout && count > 0) await start();
  await out.end();
  return count;
}

/** Where a command's list goes: stdout, in the chosen format, fitted to the terminal if stdout is one. */
export function listTarget(ctx: AppContext): RenderTarget {
  return { stdout: ctx.out.stdout, format: ctx.config.format, color: ctx.config.color, width: ctx.out.columns };
}

/** One JSON document. */
export async function renderJson(data: unknown, stdout: Writable): Promise<void> {
  await write(stdout, `${toJson(data, 2)}\n`);
}

export { write as writeOut };
