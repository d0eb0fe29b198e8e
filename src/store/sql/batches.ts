/**
 * A query's rows in batches as they arrive. On a PostgreSQL server (pg) each batch is the rows one read from
 * the socket held, handed to the reader before the next read is parsed: a listing turns rows into output
 * while the server still sends, and a page of 7,000 rows is never all held at once as parsed values (V8's
 * young-generation collections copied every row still held, again and again, as the page arrived).
 * PGlite answers a query whole: its result is one batch.
 */
import type { Knex } from 'knex';

/** A row as the driver gives it: an object by column name, or (rowMode 'array') the values in select order. */
export type RawRow = Record<string | number, unknown>;

/** The part of pg's client a query needs (knex's pooled connection). */
interface PgConnection {
  query(query: unknown): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  off(event: 'error', listener: (err: Error) => void): unknown;
}

interface PgQuery {
  on(event: 'row', listener: (row: RawRow) => void): this;
  on(event: 'end', listener: () => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
}

type PgQueryClass = new (config: { text: string; values: readonly unknown[]; rowMode?: 'array' }) => PgQuery;

/** Queries whose rows arrive in batches, all on one connection (the next page is asked for while this one arrives). */
export interface RowBatches {
  /** Send `q` now (on pg it waits in the connection's queue behind the queries started before it); its rows, batch by batch. */
  start(q: Knex.QueryBuilder, arrays: boolean): AsyncIterable<RawRow[]>;
  /** Wait for every query started to finish (rows nobody read are dropped), and give the connection back. */
  close(): Promise<void>;
}

/** One connection of `knex` for a listing's queries. */
export async function rowBatches(knex: Knex): Promise<RowBatches> {
  const client = knex.client as Knex.Client & {
    acquireConnection(): Promise<PgConnection>;
    releaseConnection(conn: PgConnection): Promise<unknown>;
  };
  // A server is knex's own 'pg' client; knex-pglite is a subclass of it (driverName 'pg' too) handed in as a class.
  if (!['pg', 'postgres', 'postgresql'].includes(client.config.client as string)) return wholeResults();
  const { default: pg } = await import('pg');
  const conn = await client.acquireConnection();
  const running = new Set<Promise<void>>();
  /** The first error the connection itself had (the server closed it between two queries, say). */
  let closedBy: Error | undefined;
  const onError = (err: Error) => (closedBy ??= err);
  conn.on('error', onError);
  return {
    start(q, arrays) {
      const { sql, bindings } = q.toSQL().toNative();
      const query = new (pg.Query as unknown as PgQueryClass)({ text: sql, values: bindings, ...(arrays ? { rowMode: 'array' as const } : {}) });
      let batch: RawRow[] = [];
      let failure: Error | undefined;
      let wake: (() => void) | undefined;
      const signal = () => {
        const w = wake;
        wake = undefined;
        w?.();
      };
      let ended = false;
      const done = new Promise<void>((resolve) => {
        query.on('end', () => resolve());
        query.on('error', (err) => {
          // Asked for on a connection the server had already closed (between two pages): pg says only "not
          // queryable"; what closed it came to the connection (e.g. 57P01, terminating connection).
          failure = (/not queryable/.test(err.message) && closedBy) || err;
          resolve();
        });
      }).then(() => {
        ended = true;
        running.delete(done);
        signal();
      });
      running.add(done);
      // A 'row' listener makes pg hand each row on instead of collecting the result.
      query.on('row', (row) => {
        batch.push(row);
        signal(); // the reader runs once this read's rows are parsed (a microtask after the socket's data event)
      });
      conn.query(query);
      return (async function* () {
        try {
          for (;;) {
            if (batch.length) {
              const rows = batch;
              batch = [];
              yield rows;
            } else if (failure) {
              throw failure;
            } else if (ended) {
              return;
            } else {
              await new Promise<void>((resolve) => (wake = resolve));
            }
          }
        } finally {
          batch = [];
        }
      })();
    },
    async close() {
      while (running.size) await Promise.all(running);
      conn.off('error', onError);
      await client.releaseConnection(conn);
    },
  };
}

/** PGlite's way: each query's whole result as one batch (and knex's pool of one connection queues them). */
function wholeResults(): RowBatches {
  const running = new Set<Promise<unknown>>();
  return {
    start(q, arrays) {
      if (arrays) q.options({ rowMode: 'array' });
      const result = Promise.resolve(q.then((rows: unknown) => rows as RawRow[]));
      const settled: Promise<unknown> = result.then(
        () => running.delete(settled),
        () => running.delete(settled), // read ahead and never read when the reader stops early: not an unhandled rejection
      );
      running.add(settled);
      return (async function* () {
        const rows = await result;
        if (rows.length) yield rows;
      })();
    },
    async close() {
      while (running.size) await Promise.all(running);
    },
  };
}
