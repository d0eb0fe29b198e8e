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

/** A pooled connection and the first error it had itself (the server closed it, say). */
interface Held {
  conn: PgConnection;
  closedBy?: Error;
  onError: (err: Error) => void;
}

/** SQLSTATEs of a server that closed the session (admin_shutdown, crash_shutdown, idle_session_timeout...), and class 08. */
const SESSION_GONE = /^(57P0[1-5]|08...)$/;

/**
 * One connection of `knex` for a listing's queries. A query the server never answered with a row because the
 * connection was gone (closed while idle between two pages: an idle-session timeout, a pooler, a restart,
 * pg_terminate_backend while the reader was slow) is sent once more on a new connection: a page is a
 * read-only keyset query, the same rows wherever it runs (as before, when every page took a pooled connection).
 * It holds its connection until close(): what the reader's consumer queries meanwhile (the agreements of an
 * `expiring` page, a bulk command's UPDATE) takes another from the pool, which must have room (the tool's has 8).
 */
export async function rowBatches(knex: Knex): Promise<RowBatches> {
  const client = knex.client as Knex.Client & {
    acquireConnection(): Promise<PgConnection>;
    releaseConnection(conn: PgConnection): Promise<unknown>;
  };
  // A server is knex's own 'pg' client; knex-pglite is a subclass of it (driverName 'pg' too) handed in as a class.
  if (!['pg', 'postgres', 'postgresql'].includes(client.config.client as string)) return wholeResults();
  const { default: pg } = await import('pg');
  // Logged as knex logs the queries it runs (DEBUG=knex:query,knex:bindings): the same debug instance, in the db piece.
  const { default: createDebug } = (await import('debug' as string)) as { default: (namespace: string) => (...args: unknown[]) => void };
  const [debugQuery, debugBindings] = [createDebug('knex:query'), createDebug('knex:bindings')];
  const hold = async (): Promise<Held> => {
    const conn = await client.acquireConnection();
    const held: Held = { conn, onError: (err) => (held.closedBy ??= err) };
    conn.on('error', held.onError);
    return held;
  };
  const letGo = async (held: Held) => {
    held.conn.off('error', held.onError);
    await client.releaseConnection(held.conn); // knex's pool drops one that broke
  };
  let current: Promise<Held> = hold();
  await current;
  /** The connection to use after `broken` failed: a new one, asked for once however many queries saw it fail. */
  const replace = (broken: Held): Promise<Held> => {
    current = current.then(async (held) => {
      if (held !== broken) return held;
      await letGo(broken);
      return hold();
    });
    return current;
  };
  const running = new Set<Promise<void>>();
  return {
    start(q, arrays) {
      const { sql, bindings } = q.toSQL().toNative();
      debugQuery(sql, undefined);
      debugBindings(bindings, undefined);
      let batch: RawRow[] = [];
      let failure: Error | undefined;
      let ended = false;
      let wake: (() => void) | undefined;
      const signal = () => {
        const w = wake;
        wake = undefined;
        w?.();
      };
      /** Send the query on `held`; the error it ended with, if any, and how many rows came before it. */
      const send = (held: Held) =>
        new Promise<{ err?: Error; rows: number }>((resolve) => {
          const query = new (pg.Query as unknown as PgQueryClass)({ text: sql, values: bindings, ...(arrays ? { rowMode: 'array' as const } : {}) });
          let rows = 0;
          // A 'row' listener makes pg hand each row on instead of collecting the result.
          query.on('row', (row) => {
            rows++;
            batch.push(row);
            signal(); // the reader runs once this read's rows are parsed (a microtask after the socket's data event)
          });
          query.on('end', () => resolve({ rows }));
          query.on('error', (err) => resolve({ err, rows }));
          held.conn.query(query);
        });
      const done: Promise<void> = (async () => {
        for (let held = await current, retried = false; ; held = await replace(held), retried = true) {
          const { err, rows } = await send(held);
          // pg says only "not queryable" of a connection the server had closed; what closed it came to the connection.
          const cause = err && ((/not queryable/.test(err.message) && held.closedBy) || err);
          const gone = cause && (held.closedBy !== undefined || SESSION_GONE.test(String((cause as { code?: unknown }).code ?? '')) || /not queryable|Connection terminated/.test(cause.message));
          if (!gone || rows > 0 || retried) {
            failure = cause;
            return;
          }
        }
      })()
        .catch((err: Error) => {
          failure = err; // no new connection could be had
        })
        .finally(() => {
          ended = true;
          running.delete(done);
          signal();
        });
      running.add(done);
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
      const held = await current.catch(() => undefined); // no new connection could be had: the query said so
      if (held) await letGo(held);
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
