/**
 * Reading accounts from any SQL host through its mapping: filters, keyset paging (a million rows stream
 * with flat memory), lookups and the aggregates of `email check` and `report compliance`.
 */
import type { Knex } from 'knex';
import { AccountJson, LISTED_FIELDS, type AccountFilter, type AccountOrder, type AccountRow, type Changed, type ComplianceCounts, type ListedAccount, type LockReason, type Tx } from '../types.js';
import { rowBatches, type RawRow } from './batches.js';
import { accountJsonSql, isoSql, normaliseAccount, normaliseListed, TIME_FIELDS, ts, utcTextSql, type Field, type SqlMapping } from './mapping.js';
import { normaliseRows, TIME_LIST, type Normalise } from './raw-times.js';

const DAY_MS = 86_400_000;

/** Where a page starts: after the row with this sort key (UTC wall text) and id. */
type Cursor = { key: string | undefined; id: number };

/** A row an UPDATE … RETURNING gave back: the account's id and what it was before the change. */
export interface ChangedRow {
  id: number | string;
  old_reason: LockReason | null;
  old_attempts: number | string;
}

/** A page's batches as one. */
async function* wholePage(batches: AsyncIterable<RawRow[]>): AsyncGenerator<RawRow[]> {
  const rows: RawRow[] = [];
  for await (const batch of batches) for (const row of batch) rows.push(row);
  if (rows.length) yield rows;
}

export class SqlReader {
  constructor(
    readonly knex: Knex,
    readonly map: SqlMapping,
    readonly clock: () => Date,
  ) {}

  /**
   * SELECT every field FROM the mapping, with the filter applied; `db` may be a transaction. Times come as the
   * UTC text readUtcTimes reads, or, `exact`, as ISO strings formatted by the database (isoSql, readTextTimes).
   * `fields`: only these (a listing's).
   */
  query(filter: AccountFilter = {}, db: Knex | Knex.Transaction = this.knex, now: Date = this.clock(), exact = false, fields?: readonly Field[]): Knex.QueryBuilder {
    const f = this.map.fields(now);
    const time = exact ? isoSql : utcTextSql;
    const q = db
      .queryBuilder()
      .from(db.raw(this.map.from))
      .select((fields ?? (Object.keys(f) as Field[])).map((k) => db.raw(`${TIME_FIELDS.has(k) ? time(f[k]) : f[k]} as "${k}"`)));
    for (const cond of this.map.exists) q.whereRaw(cond);
    this.apply(q, filter, f, now);
    return q;
  }

  private apply(q: Knex.QueryBuilder, filter: AccountFilter, f: Record<Field, string>, now: Date): void {
    const locked = this.map.locked(now);
    if (filter.ids) q.whereRaw(`${f.id} = any(?::bigint[])`, [filter.ids]);
    if (filter.locked || filter.lockReasons) q.whereRaw(`(${locked})`);
    if (filter.lockReasons) q.whereRaw(`${f.lock_reason} = any(?::text[])`, [filter.lockReasons]);
    if (filter.agencyId !== undefined) q.whereRaw(`${f.agency_id} = ?`, [filter.agencyId]);
    if (filter.missingEmail) q.whereRaw(`coalesce(btrim(${f.email}), '') = ''`);
    if (filter.expiresBefore) q.whereRaw(`${f.account_expires_at} < ?::timestamptz`, [filter.expiresBefore.toISOString()]);
    if (filter.expiresAfter) q.whereRaw(`${f.account_expires_at} >= ?::timestamptz`, [filter.expiresAfter.toISOString()]);
    if (filter.expiredUnlockedAt) {
      q.whereRaw(`not (${locked})`).whereRaw(`${f.account_expires_at} <= ?::timestamptz`, [filter.expiredUnlockedAt.toISOString()]);
    }
    if (filter.search) {
      const like = `%${filter.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      q.where((w) => {
        for (const e of this.map.searchable) w.orWhereRaw(`${e} ilike ?`, [like]);
      });
    }
  }

  /**
   * Accounts page by page, keyed on (order expression, id) so each page is an index range scan where the
   * host has the index, and memory stays flat however many rows match. The first page is `pageSize` (one
   * small query for `--limit 1`, the first screenful soon), every later one eight times it (each page is a
   * round trip the client waits for: 8,000 locked accounts are two queries, not four), and the next page
   * is asked for as soon as a page's last row arrives, on the same connection, so the database works while
   * this one is shown.
   */
  pages(filter: AccountFilter, order: AccountOrder = 'id', limit = Infinity, pageSize = 1000): AsyncGenerator<AccountRow[]> {
    return this.pagesOf(normaliseAccount, undefined, filter, order, limit, pageSize);
  }

  /**
   * The same pages with only the fields a listing shows, each row as the driver's array of values (no object
   * per row to build and collect): a quarter fewer values to parse and keep, and a listing of 8,000 ~5% faster.
   * On a server they come in the batches the socket delivers (rowBatches), each made and shown as it arrives.
   */
  listPages(filter: AccountFilter, order: AccountOrder = 'id', limit = Infinity): AsyncGenerator<ListedAccount[]> {
    return this.pagesOf(normaliseListed, LISTED_FIELDS, filter, order, limit, 1000);
  }

  /**
   * The same listing for `--json`: each account as its JSON text written by the database (accountJsonSql), so a
   * row is one value to parse and nothing to build. A row the database leaves to us (a time outside years 1–9999
   * or infinite) is read again by id as listPages reads it, in its place. A database not in UTF8 (accountJsonSql's
   * trim set is Unicode) is read as listPages reads it.
   */
  async *listJsonPages(filter: AccountFilter, order: AccountOrder = 'id', limit = Infinity): AsyncGenerator<Array<ListedAccount | AccountJson>> {
    if (!(await this.utf8())) {
      yield* this.listPages(filter, order, limit);
      return;
    }
    // ['id'] then the sort key (when the order has one) then the JSON: rows are [id, (key,) json].
    const jsonOf = (r: unknown[]): AccountJson | number => {
      const json = r[r.length - 1];
      return typeof json === 'string' ? new AccountJson(json) : Number(r[0]);
    };
    for await (const rows of this.pagesOf<AccountJson | number>(jsonOf, ['id'], filter, order, limit, 1000, true)) {
      const ids = rows.filter((r): r is number => typeof r === 'number');
      if (!ids.length) {
        yield rows as AccountJson[];
        continue;
      }
      // Rare: those accounts as the listing itself reads them (an account deleted meanwhile is left out).
      const byId = new Map<number, ListedAccount>();
      for await (const listed of this.listPages({ ids })) for (const a of listed) byId.set(a.id, a);
      const page = rows.flatMap((r): Array<ListedAccount | AccountJson> => (typeof r === 'number' ? (byId.has(r) ? [byId.get(r)!] : []) : [r]));
      if (page.length) yield page;
    }
  }

  /** Whether the database's encoding is UTF8 (asked once). */
  private utf8(): Promise<boolean> {
    return (this.isUtf8 ??= this.knex.raw('select pg_catalog.getdatabaseencoding() as e').then((r: { rows?: Array<{ e: string }> } | Array<{ e: string }>) => (Array.isArray(r) ? r : r.rows ?? [])[0]?.e === 'UTF8'));
  }

  private isUtf8: Promise<boolean> | undefined;

  private async *pagesOf<T>(
    normalise: Normalise<T>,
    /** Only these, as arrays in this order (then the sort key, if they hold no key); undefined: every field, as objects. */
    fields: readonly Field[] | undefined,
    filter: AccountFilter,
    order: AccountOrder,
    limit: number,
    pageSize: number,
    /** Also select accountJsonSql, last (listJsonPages). */
    json = false,
  ): AsyncGenerator<T[]> {
    const now = this.clock();
    const f = this.map.fields(now);
    const keyField = order === 'locked' ? 'locked_at' : order === 'expiry' ? 'account_expires_at' : null;
    const key = keyField && f[keyField];
    const dir = order === 'locked' ? 'desc' : 'asc';
    const op = dir === 'asc' ? '>' : '<';
    const times = fields ? fields.flatMap((k, i) => (TIME_FIELDS.has(k) ? [i] : [])) : TIME_LIST;
    // A listing selects the key itself, as the same UTC text (utcTextSql) the cursor needs: no sort_key column then.
    const keyAt = fields && keyField ? fields.indexOf(keyField) : -1;
    const keyOf = (r: RawRow) => ({
      key: r[keyAt >= 0 ? keyAt : fields ? fields.length : 'sort_key'] as string | undefined,
      id: Number(r[fields ? fields.indexOf('id') : 'id']),
    });
    const build = (want: number, after: Cursor | undefined, exact: boolean) => {
      const q = this.query(filter, this.knex, now, exact, fields).limit(want);
      if (fields) q.options({ rowMode: 'array' });
      if (key) {
        // The key travels as text: a JS Date would drop the microseconds and skip rows at a page edge. As the UTC wall
        // time, read back as UTC: the session's own text of a timestamptz names its zone, and an abbreviation can read
        // back as another zone (IST is India's when written, Israel's when read: pages repeated rows) or not at all (LMT BC).
        // Not when the filter already says so (locked accounts by lock time): the condition twice makes the planner
        // square its selectivity, expect 50 rows for 8,000 and re-read them all for every page.
        const implied = key === f.locked_at && (filter.locked || filter.lockReasons) && this.map.locked(now).trim() === `${key} is not null`;
        if (!implied) q.whereRaw(`${key} is not null`);
        if (keyAt < 0) q.select(this.knex.raw(`${utcTextSql(key)} as sort_key`));
        if (after) q.whereRaw(`(${key}, ${f.id}) ${op} (?::timestamp at time zone 'UTC', ?)`, [after.key!, after.id]);
        q.orderByRaw(`${key} ${dir}, ${f.id} ${dir}`);
      } else {
        if (after) q.whereRaw(`${f.id} > ?`, [after.id]);
        q.orderByRaw(`${f.id} asc`);
      }
      if (json) q.select(this.knex.raw(`${accountJsonSql(f)} as json`));
      return q;
    };
    const batches = await rowBatches(this.knex);
    try {
      // A listing's rows are made and shown batch by batch as they arrive; whole accounts (the bulk commands, which
      // work a page at a time: one UPDATE, one audit insert per page) come as whole pages.
      const fetch = (want: number, after?: Cursor) => {
        const stream = batches.start(build(want, after, false), Boolean(fields));
        return { want, after, stream: fields ? stream : wholePage(stream) };
      };
      let next: ReturnType<typeof fetch> | undefined = fetch(Math.min(pageSize, limit));
      let yielded = 0;
      while (next) {
        const { want, after, stream } = next;
        next = undefined;
        let got = 0;
        /** Where the rows not yet made start: after this row's key. */
        let from = after;
        let reread = false;
        for await (const batch of stream) {
          got += batch.length;
          const last = keyOf(batch[batch.length - 1]!); // before the rows are made: readUtcTimes changes them in place
          // A full page: the next one is asked for now, before these rows are made, so the database works on it meanwhile.
          if (got === want && yielded + got < limit) next = fetch(Math.min(pageSize * 8, limit - yielded - got), last);
          if (reread) continue; // the rest of this page was read again already (below)
          const rest = want - (got - batch.length);
          const made = await normaliseRows(batch, normalise, () => {
            // A time in no ISO layout (the session's DateStyle): the rest of the page is read again, times formatted by the database.
            reread = true;
            return build(rest, from, true);
          }, times);
          from = last;
          yield made;
        }
        yielded += got;
      }
    } finally {
      await batches.close();
    }
  }

  /** The same accounts one at a time. */
  async *page(filter: AccountFilter, order: AccountOrder = 'id', limit = Infinity, pageSize = 1000): AsyncGenerator<AccountRow> {
    for await (const rows of this.pages(filter, order, limit, pageSize)) yield* rows;
  }

  async count(filter: AccountFilter): Promise<number> {
    const now = this.clock();
    const q = this.knex.queryBuilder().from(this.knex.raw(this.map.from)).count({ n: '*' });
    for (const cond of this.map.exists) q.whereRaw(cond);
    this.apply(q, filter, this.map.fields(now), now);
    return Number(((await q) as Array<{ n: number | string }>)[0]!.n);
  }

  /** The accounts query(filter, db) selects, narrowed by `refine` (a condition, a limit), as AccountRows. */
  protected async accounts(filter: AccountFilter, db: Knex | Knex.Transaction = this.knex, refine: (q: Knex.QueryBuilder, f: Record<Field, string>) => Knex.QueryBuilder = (q) => q): Promise<AccountRow[]> {
    const now = this.clock();
    const f = this.map.fields(now);
    const build = (exact: boolean) => refine(this.query(filter, db, now, exact), f);
    return normaliseRows((await build(false)) as RawRow[], normaliseAccount, () => build(true));
  }

  async findById(id: number, db: Knex | Knex.Transaction = this.knex): Promise<AccountRow | undefined> {
    // Compared as bigint (an int4 primary key still uses its index): an id beyond an integer column's range
    // is simply not found, never an "out of range" error with SQL in it.
    if (!Number.isSafeInteger(id) || id < 1) return undefined;
    return (await this.accounts({}, db, (q, f) => q.whereRaw(`${f.id} = ?::bigint`, [id]).limit(1)))[0];
  }

  async findByLogin(login: string): Promise<AccountRow | undefined> {
    return (await this.accounts({}, this.knex, (q, f) => q.whereRaw(`lower(${f.username}) = lower(?)`, [login]).limit(1)))[0];
  }

  async findByEmail(email: string, max = 10): Promise<AccountRow[]> {
    // No ORDER BY in SQL: with fresh statistics missing, "order by id limit" tempts the planner into a scan by id.
    return (await this.accounts({}, this.knex, (q, f) => q.whereRaw(`lower(${f.email}) = lower(?)`, [email]).limit(max))).sort((a, b) => a.id - b.id);
  }

  async usernames(ids: number[]): Promise<Map<number, string>> {
    if (!ids.length) return new Map();
    const f = this.map.fields(this.clock());
    const rows = (await this.knex
      .queryBuilder()
      .from(this.knex.raw(this.map.from))
      .select(this.knex.raw(`${f.id} as id, ${f.username} as username`))
      .whereRaw(`${f.id} = any(?::bigint[])`, [[...new Set(ids)]])) as Array<{ id: number | string; username: string }>;
    return new Map(rows.map((r) => [Number(r.id), r.username]));
  }

  /** Other accounts whose address (or pending address) is `email`, any case, at most 10. */
  async addressOwners(email: string, exceptId: number | undefined, db: Knex | Knex.Transaction = this.knex): Promise<Array<{ id: number; username: string }>> {
    const f = this.map.fields(this.clock());
    const q = db
      .queryBuilder()
      .from(db.raw(this.map.from))
      .select(db.raw(`${f.id} as id, ${f.username} as username`))
      .where((w) => {
        w.whereRaw(`lower(btrim(${f.email})) = lower(?)`, [email]);
        if (f.pending_email !== 'null') w.orWhereRaw(`lower(btrim(${f.pending_email})) = lower(?)`, [email]);
      })
      .limit(10);
    for (const cond of this.map.exists) q.whereRaw(cond);
    if (exceptId !== undefined) q.whereRaw(`${f.id} <> ?`, [exceptId]);
    const rows = (await q) as Array<{ id: number | string; username: string }>;
    return rows.map((r) => ({ id: Number(r.id), username: r.username })).sort((a, b) => a.id - b.id);
  }

  async sharedAddresses(): Promise<Map<string, number>> {
    const f = this.map.fields(this.clock());
    const where = this.map.exists.length ? `where ${this.map.exists.join(' and ')}` : '';
    // An address waiting for confirmation (Devise reconfirmable) is held too: Devise refuses the confirmation while another account has it.
    const held = [f.email, ...(f.pending_email === 'null' ? [] : [f.pending_email])].map((e) => `select ${f.id} as id, lower(btrim(${e})) as e from ${this.map.from} ${where}`);
    const { rows } = (await this.knex.raw(
      `select e, pg_catalog.count(distinct id) as n from (${held.join(' union all ')}) x where coalesce(e, '') <> '' group by e having pg_catalog.count(distinct id) > 1`,
    )) as { rows: Array<{ e: string; n: number | string }> };
    return new Map(rows.map((r) => [r.e, Number(r.n)]));
  }

  /**
   * One pass over the accounts grouped by agency, joined to the pending renewal (the tool's own
   * user_agreements): a sequential scan, well under a second for a million accounts on a server.
   */
  async complianceCounts(now: Date, agencyId?: number): Promise<ComplianceCounts[]> {
    const f = this.map.fields(now);
    const n = ts(now);
    const in30 = ts(new Date(now.getTime() + 30 * DAY_MS));
    const ago30 = ts(new Date(now.getTime() - 30 * DAY_MS));
    const where = [...this.map.exists, ...(agencyId === undefined ? [] : [`${f.agency_id} = ?`])];
    const { rows } = (await this.knex.raw(
      `select ${f.agency_id} as agency_id,
        count(*) as accounts,
        count(*) filter (where ${f.account_expires_at} <= ${n}) as expired,
        count(*) filter (where ${f.account_expires_at} > ${n} and ${f.account_expires_at} <= ${in30}) as expiring30d,
        count(*) filter (where g.id is not null
          and (g.user_signed_at is null or g.supervisor_signed_at is null or g.director_signed_at is null)) as missing_signatures,
        count(*) filter (where coalesce(btrim(${f.email}), '') = '') as missing_email,
        count(*) filter (where coalesce(btrim(${f.email}), '') <> '' and ${f.email_verified_at} is null) as unverified_email,
        count(*) filter (where coalesce(btrim(${f.phone}), '') = '') as missing_phone,
        count(*) filter (where (${this.map.locked(now)}) and ${f.locked_at} <= ${ago30}) as locked_over_30d
      from ${this.map.from}
      left join user_agreements g on g.user_id = ${f.id} and g.completed_at is null
      ${where.length ? `where ${where.join(' and ')}` : ''}
      group by 1`,
      agencyId === undefined ? [] : [agencyId],
    )) as { rows: Array<Record<string, string | number | null>> };
    return rows.map((r) => ({
      agencyId: r.agency_id === null ? null : Number(r.agency_id),
      accounts: Number(r.accounts),
      expired: Number(r.expired),
      expiring30d: Number(r.expiring30d),
      missingSignatures: Number(r.missing_signatures),
      missingEmail: Number(r.missing_email),
      unverifiedEmail: Number(r.unverified_email),
      missingPhone: Number(r.missing_phone),
      lockedOver30d: Number(r.locked_over_30d),
    }));
  }

  async agencyByName(name: string): Promise<{ id: number; name: string } | undefined> {
    const a = this.map.agency;
    if (!a) return undefined;
    const row = (await this.knex(a.table).whereRaw(`pg_catalog.lower((${a.name})::text) = pg_catalog.lower(?::text)`, [name]).first(this.knex.raw(`id, ${a.name} as name`))) as { id: number | string; name: string } | undefined;
    return row && { id: Number(row.id), name: row.name };
  }

  async agencyNames(max = 10): Promise<string[]> {
    return (await this.agencies()).slice(0, max).map((a) => a.name);
  }

  async agencies(ids?: number[]): Promise<Array<{ id: number; name: string }>> {
    const a = this.map.agency;
    if (!a) return [];
    const q = this.knex(a.table).select(this.knex.raw(`id, ${a.name} as name`)).orderByRaw(`${a.name}, id`);
    if (ids) q.whereRaw('id = any(?::bigint[])', [ids]);
    const rows = (await q) as Array<{ id: number | string; name: string | null }>;
    return rows.map((r) => ({ id: Number(r.id), name: r.name ?? `agency #${r.id}` }));
  }

  /** The changed accounts as they are now (read through the mapping, in the same transaction), with what they were before. */
  protected async changed(tx: Tx, rows: ChangedRow[]): Promise<Changed[]> {
    if (!rows.length) return [];
    const ids = rows.map((r) => Number(r.id));
    const current = await this.accounts({ ids }, tx);
    const byId = new Map(current.map((r) => [r.id, r]));
    return rows
      .filter((r) => byId.has(Number(r.id)))
      .map((r) => ({ account: byId.get(Number(r.id))!, previousReason: r.old_reason, previousAttempts: Number(r.old_attempts) }))
      .sort((a, b) => a.account.id - b.account.id);
  }
}
