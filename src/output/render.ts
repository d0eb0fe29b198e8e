/** Turn command results into table, JSON or CSV on stdout; lists stream page by page. */
import type { Writable } from 'node:stream';
import type { OutputFormat } from '../config.js';
import type { AppContext } from '../context.js';
import { csvLine } from './csv.js';
import { layoutTable, type Column, type Layout } from './table.js';

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
function chunked(stream: Writable): { add(text: string): Promise<void>; end(): Promise<void> } {
  let buf = '';
  return {
    add: async (text) => {
      buf += text;
      if (buf.length >= 65_536) {
        const b = buf;
        buf = '';
        await write(stream, b);
      }
    },
    end: async () => {
      if (buf) await write(stream, buf);
      buf = '';
    },
  };
}

/** Stream rows in the chosen format; returns how many rows were written. */
export async function renderList<T>(rows: AsyncIterable<T> | Iterable<T>, view: ListView<T>, target: RenderTarget): Promise<number> {
  const { stdout, format } = target;
  const out = chunked(stdout);
  let count = 0;
  if (format === 'json') {
    await out.add('[');
    for await (const row of rows) {
      await out.add(`${count === 0 ? '\n' : ',\n'}${JSON.stringify(view.toJson(row))}`);
      count++;
    }
    await out.add(count === 0 ? ']\n' : '\n]\n');
    await out.end();
    return count;
  }
  if (format === 'csv') {
    let keys: string[] | undefined;
    for await (const row of rows) {
      const record = view.toJson(row);
      if (!keys) {
        keys = Object.keys(record);
        await out.add(csvLine(keys));
      }
      await out.add(csvLine(keys.map((k) => record[k])));
      count++;
    }
    if (!keys) await out.add(csvLine(view.columns.map((c) => c.header.toLowerCase())));
    await out.end();
    return count;
  }
  // One header, then every row under it: widths are fixed from the first page, so the output can be
  // piped to grep, sort or wc -l and a million rows never wait for the last one.
  const firstPage = target.firstPage ?? 500;
  let first: T[] | undefined = [];
  let layout: Layout<T> | undefined;
  const start = async () => {
    layout = layoutTable(view.columns, first!, target);
    await out.add(`${layout.header}\n`);
    for (const row of first!) await out.add(`${layout.line(row)}\n`);
    first = undefined;
  };
  for await (const row of rows) {
    count++;
    if (layout) await out.add(`${layout.line(row)}\n`);
    else {
      first!.push(row);
      if (first!.length >= firstPage) await start();
    }
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
  await write(stdout, `${JSON.stringify(data, null, 2)}\n`);
}

export { write as writeOut };
