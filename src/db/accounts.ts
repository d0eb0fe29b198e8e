/** Account queries: one row shape, filters, and keyset paging so a million rows never sit in memory. */
import type { Knex } from 'knex';

export interface AccountRow {
  id: number;
  username: string;
  first_name: string;
  last_name: string;
  email: string | null;
  email_verified_at: Date | null;
  phone: string | null;
  agency_id: number | null;
  agency: string | null;
  supervisor_id: number | null;
  locked_at: Date | null;
  lock_reason: string | null;
  failed_login_attempts: number;
  last_failed_login_at: Date | null;
  account_expires_at: Date | null;
  last_login_at: Date | null;
  created_at: Date;
}

export interface AccountFilter {
  locked?: boolean;
  lockReason?: string;
  agencyId?: number;
  missingEmail?: boolean;
  search?: string;
  /** account_expires_at before this instant (and, unless includeExpired, not before `now`). */
  expiresBefore?: Date;
  expiresAfter?: Date;
}

export type AccountOrder = 'id' | 'locked' | 'expiry';

const COLUMNS = [
  'u.id', 'u.username', 'u.first_name', 'u.last_name', 'u.email', 'u.email_verified_at', 'u.phone', 'u.agency_id',
  'a.name as agency', 'u.supervisor_id', 'u.locked_at', 'u.lock_reason', 'u.failed_login_attempts',
  'u.last_failed_login_at', 'u.account_expires_at', 'u.last_login_at', 'u.created_at',
];

/** The base account query, with filters applied. */
export function accountQuery(db: Knex, filter: AccountFilter = {}): Knex.QueryBuilder {
  const q = db('users as u').leftJoin('agencies as a', 'a.id', 'u.agency_id').select(COLUMNS);
  if (filter.locked || filter.lockReason) q.whereNotNull('u.locked_at');
  if (filter.lockReason) q.where('u.lock_reason', filter.lockReason);
  if (filter.agencyId !== undefined) q.where('u.agency_id', filter.agencyId);
  if (filter.missingEmail) q.where((w) => w.whereNull('u.email').orWhere('u.email', ''));
  if (filter.expiresBefore) q.where('u.account_expires_at', '<', filter.expiresBefore);
  if (filter.expiresAfter) q.where('u.account_expires_at', '>=', filter.expiresAfter);
  if (filter.search) {
    const like = `%${filter.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    q.where((w) =>
      w
        .whereRaw('u.username ilike ?', [like])
        .orWhereRaw("(u.first_name || ' ' || u.last_name) ilike ?", [like])
        .orWhereRaw('u.email ilike ?', [like]),
    );
  }
  return q;
}

const ORDERS: Record<AccountOrder, { column: string; dir: 'asc' | 'desc' }> = {
  id: { column: 'u.id', dir: 'asc' },
  locked: { column: 'u.locked_at', dir: 'desc' },
  expiry: { column: 'u.account_expires_at', dir: 'asc' },
};

/**
 * Yield accounts page by page, keyed on (order column, id) so each page is an index range scan
 * and memory stays flat however many rows match.
 */
export async function* pageAccounts(
  db: Knex,
  filter: AccountFilter,
  order: AccountOrder = 'id',
  limit = Infinity,
  pageSize = 1000,
): AsyncGenerator<AccountRow> {
  const { column, dir } = ORDERS[order];
  const op = dir === 'asc' ? '>' : '<';
  let last: (AccountRow & { sort_key?: string }) | undefined;
  let lastKey: string | undefined;
  let yielded = 0;
  while (yielded < limit) {
    const want = Math.min(pageSize, limit - yielded);
    const q = accountQuery(db, filter).limit(want);
    // The key travels as text: a JS Date would drop the microseconds and skip rows at a page edge.
    if (order !== 'id') q.whereNotNull(column).select(db.raw(`${column}::text as sort_key`));
    if (last) {
      if (order === 'id') q.where('u.id', '>', last.id);
      else q.whereRaw(`(${column}, u.id) ${op} (?::timestamptz, ?)`, [lastKey!, last.id]);
    }
    q.orderBy(order === 'id' ? [{ column: 'u.id', order: 'asc' }] : [{ column, order: dir }, { column: 'u.id', order: dir }]);
    const rows = (await q) as Array<AccountRow & { sort_key?: string }>;
    if (rows.length) {
      last = rows[rows.length - 1];
      lastKey = last!.sort_key;
    }
    for (const row of rows) {
      delete row.sort_key;
      yield normalise(row);
    }
    yielded += rows.length;
    if (rows.length < want) return;
  }
}

/** pg and PGlite disagree on some types; make one shape. */
export function normalise(row: AccountRow): AccountRow {
  row.id = Number(row.id);
  row.failed_login_attempts = Number(row.failed_login_attempts);
  return row;
}

/** users.id is a PostgreSQL integer: nothing outside 1…2^31−1 can be an account. */
export const MAX_ACCOUNT_ID = 2_147_483_647;

/** The account with this id; an id the column cannot hold is simply not there (never an SQL range error). */
export async function findAccountById(db: Knex, id: number): Promise<AccountRow | undefined> {
  if (!Number.isSafeInteger(id) || id < 1 || id > MAX_ACCOUNT_ID) return undefined;
  const row = (await accountQuery(db).where('u.id', id).first()) as AccountRow | undefined;
  return row && normalise(row);
}

export async function findAccountByUsername(db: Knex, username: string): Promise<AccountRow | undefined> {
  const row = (await accountQuery(db).whereRaw('lower(u.username) = lower(?)', [username]).first()) as AccountRow | undefined;
  return row && normalise(row);
}

/** Accounts holding this address (compared case-insensitively); more than one means a shared address. */
export async function findAccountsByEmail(db: Knex, email: string): Promise<AccountRow[]> {
  // No ORDER BY in SQL: with fresh statistics missing, "order by id limit" tempts the planner into a scan by id.
  const rows = (await accountQuery(db).whereRaw('lower(u.email) = lower(?)', [email]).limit(10)) as AccountRow[];
  return rows.map(normalise).sort((a, b) => a.id - b.id);
}

export interface AgencyRow {
  id: number;
  name: string;
  executive_director_name: string | null;
  executive_director_email: string | null;
}

export async function findAgencyByName(db: Knex, name: string): Promise<AgencyRow | undefined> {
  return (await db('agencies').whereRaw('lower(name) = lower(?)', [name]).first()) as AgencyRow | undefined;
}

export async function agencyNames(db: Knex, max = 10): Promise<string[]> {
  return (await db('agencies').orderBy('name').limit(max).pluck('name')) as string[];
}
