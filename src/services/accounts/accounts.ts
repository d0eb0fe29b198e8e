/** Accounts: naming a user, the account JSON shape of CONTRACT.md, listing with filters. */
import { NotFoundError, UsageError } from '../../errors.js';
import { iso } from '../../output/format.js';
import { describeUserRef, parseUserRef, quote } from '../../parse.js';
import type { AccountFilter, AccountJson, AccountOrder, AccountRow, AccountStore, ListedAccount } from '../../store/types.js';

export type { AccountRow, ListedAccount } from '../../store/types.js';

/** Find the account a `<user>` argument names, or throw NotFoundError (exit 3). */
export async function resolveUser(store: AccountStore, value: string): Promise<AccountRow> {
  const ref = parseUserRef(value);
  let row: AccountRow | undefined;
  if (ref.kind === 'id') row = await store.findById(ref.id);
  else if (ref.kind === 'username') row = await store.findByLogin(ref.username);
  else {
    const rows = await store.findByEmail(ref.email);
    if (rows.length > 1) {
      throw new UsageError(
        `${quote(ref.email)} is the address of ${rows.length} accounts (${rows.map((r) => r.username).join(', ')}); name one by username or #id`,
      );
    }
    row = rows[0];
  }
  if (!row) {
    throw new NotFoundError(
      `no user ${quote(describeUserRef(ref))}; look it up with \`hmis-admin users list --search <part of the name>\``,
    );
  }
  return row;
}

/** An agency named on the command line (case-insensitive), or a usage error listing real ones. */
export async function resolveAgency(store: AccountStore, name: string): Promise<number> {
  const agency = await store.agencyByName(name);
  if (agency) return agency.id;
  const known = await store.agencyNames();
  throw new UsageError(
    `--agency ${quote(name)} is not an agency${known.length ? `; known agencies include: ${known.join(', ')}` : '; the database has no agencies yet'}`,
  );
}

/** The account JSON of CONTRACT.md. */
export function accountJson(row: ListedAccount): Record<string, unknown> {
  return {
    id: row.id,
    username: row.username,
    name: fullName(row),
    email: row.email,
    emailVerified: Boolean(row.email && row.email_verified_at),
    phone: row.phone,
    agency: row.agency,
    locked: row.locked_at !== null,
    lockedAt: iso(row.locked_at),
    lockReason: row.locked_at ? row.lock_reason : null,
    failedLoginAttempts: row.failed_login_attempts,
    accountExpiresAt: iso(row.account_expires_at),
    lastLoginAt: iso(row.last_login_at),
    // Devise reconfirmable: a new address waiting for the person's confirmation (only when there is one).
    ...(row.pending_email ? { pendingEmail: row.pending_email } : {}),
  };
}

export function fullName(row: Pick<AccountRow, 'first_name' | 'last_name'>): string {
  return `${row.first_name ?? ''} ${row.last_name ?? ''}`.trim();
}

/** A short status word for tables: why it is locked, or whether it is expired. */
export function statusText(row: ListedAccount, now: Date): string {
  if (row.locked_at) {
    if (row.lock_reason === 'failed_logins') return `locked: ${row.failed_login_attempts} fails`;
    if (row.lock_reason === 'agreement_expired') return 'locked: agreement';
    if (row.lock_reason === 'admin') return 'locked: admin';
    return 'locked';
  }
  if (row.account_expires_at && Date.parse(row.account_expires_at) <= now.getTime()) return 'expired';
  return 'active';
}

export interface ListOptions {
  filter: AccountFilter;
  order?: AccountOrder;
  limit?: number;
  /** The listing is printed as JSON: accounts may come as their JSON text already (AccountJson). */
  json?: boolean;
}

/** Accounts matching a filter, a page at a time (output renders a whole page per step). */
export interface AccountPages {
  pages: AsyncGenerator<Array<ListedAccount | AccountJson>>;
}

/** Stream accounts matching a filter. */
export function listAccounts(store: AccountStore, options: ListOptions): AccountPages {
  const { filter, order = 'id', limit = Infinity } = options;
  return { pages: options.json ? store.listJsonPages(filter, order, limit) : store.listPages(filter, order, limit) };
}
