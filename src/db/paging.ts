/** Keyset paging on an id column: any number of rows streams with flat memory and index range scans. */
import type { Knex } from 'knex';

/**
 * Yield the rows of `build()` ordered by `column` (`dir`), `pageSize` at a time, at most `limit`.
 * `build` is called once per page and must not order or limit; rows must carry `id`.
 */
export async function* pageById<T extends { id: number | string }>(
  build: () => Knex.QueryBuilder,
  column: string,
  dir: 'asc' | 'desc',
  limit = Infinity,
  pageSize = 1000,
): AsyncGenerator<T> {
  let last: number | undefined;
  let yielded = 0;
  while (yielded < limit) {
    const want = Math.min(pageSize, limit - yielded);
    const q = build().orderBy(column, dir).limit(want);
    if (last !== undefined) q.where(column, dir === 'asc' ? '>' : '<', last);
    const rows = (await q) as T[];
    if (rows.length) last = Number(rows[rows.length - 1]!.id);
    yield* rows;
    yielded += rows.length;
    if (rows.length < want) return;
  }
}

/** Group rows into pages, so what each page needs besides comes from one query, not one per row. */
export async function* inPages<T>(rows: AsyncIterable<T>, size: number): AsyncGenerator<T[]> {
  let page: T[] = [];
  for await (const row of rows) {
    page.push(row);
    if (page.length >= size) {
      yield page;
      page = [];
    }
  }
  if (page.length) yield page;
}
