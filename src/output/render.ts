/** Turn command results into table, JSON or CSV on stdout; lists stream page by page. */
import type { Writable } from 'node:stream';
import type { OutputFormat } from '../config.js';
import { csvLine } from './csv.js';
import { renderTable, type Column } from './table.js';

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
  /** Rows per table page: a header is repeated every page so nothing waits for the end. */
  pageSize?: number;
}

function write(stream: Writable, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (stream.write(text)) resolve();
    else {
      stream.once('drain', resolve);
      stream.once('error', reject);
    }
  });
}

/** Stream rows in the chosen format; returns how many rows were written. */
export async function renderList<T>(rows: AsyncIterable<T> | Iterable<T>, view: ListView<T>, target: RenderTarget): Promise<number> {
  const { stdout, format } = target;
  let count = 0;
  if (format === 'json') {
    await write(stdout, '[');
    for await (const row of rows) {
      await write(stdout, `${count === 0 ? '\n' : ',\n'}${JSON.stringify(view.toJson(row))}`);
      count++;
    }
    await write(stdout, count === 0 ? ']\n' : '\n]\n');
    return count;
  }
  if (format === 'csv') {
    const sample = view.toJson as (row: T) => Record<string, unknown>;
    let keys: string[] | undefined;
    for await (const row of rows) {
      const record = sample(row);
      if (!keys) {
        keys = Object.keys(record);
        await write(stdout, csvLine(keys));
      }
      await write(stdout, csvLine(keys.map((k) => record[k])));
      count++;
    }
    if (!keys) await write(stdout, csvLine(view.columns.map((c) => c.header.toLowerCase())));
    return count;
  }
  const pageSize = target.pageSize ?? 500;
  let page: T[] = [];
  const flush = async () => {
    if (page.length) await write(stdout, `${count > page.length ? '\n' : ''}${renderTable(view.columns, page, target.color)}\n`);
    page = [];
  };
  for await (const row of rows) {
    page.push(row);
    count++;
    if (page.length >= pageSize) await flush();
  }
  await flush();
  return count;
}

/** One JSON document. */
export async function renderJson(data: unknown, stdout: Writable): Promise<void> {
  await write(stdout, `${JSON.stringify(data, null, 2)}\n`);
}

export { write as writeOut };
