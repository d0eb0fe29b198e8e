/**
 * The account store: the one interface between hmis-admin and whoever holds the accounts. `native` is
 * the tool's own `users`/`agencies` tables; `devise` is a Rails application's Devise `users` table
 * (OpenPath HMIS, Primero). Commands and services speak only this interface and never name a host
 * column, so a third host (Keycloak's Admin REST API, a mapped custom table) is one more implementation.
 *
 * The tool's own tables (audit trail, outbox, agreements, reminders, link history) are the same in every
 * mode; writes to the host happen inside the caller's transaction (`Tx`) so a change and its audit row
 * commit together. A host that cannot share the transaction (a REST API) writes before the caller commits
 * and must make each write conditional, as the SQL hosts do.
 */
import type { Knex } from 'knex';
import type { TokenFormat } from '../services/links/tokens.js';

export type HostKind = 'native' | 'devise';
export type LockReason = 'failed_logins' | 'agreement_expired' | 'admin';
export const LOCK_REASONS: readonly LockReason[] = ['failed_logins', 'agreement_expired', 'admin'];

/** A transaction of the tool's database: host writes join it, so a change and its audit row commit together. */
export type Tx = Knex.Transaction;

/**
 * An instant as `Date#toISOString` writes it, `2026-11-20T10:00:00.000Z` (what JSON and CSV print), or, for
 * a time no Date can hold (PostgreSQL's `infinity`), the database's own text. Compare with `Date.parse`.
 */
export type Instant = string;

/** One account, whatever the host calls its columns. */
export interface AccountRow {
  id: number;
  /** What a person types to name the account: the username (native) or the login column (devise: email). */
  username: string;
  first_name: string;
  last_name: string;
  email: string | null;
  email_verified_at: Instant | null;
  /** An address waiting for the person's confirmation (Devise reconfirmable), or null. */
  pending_email: string | null;
  phone: string | null;
  agency_id: number | null;
  agency: string | null;
  supervisor_id: number | null;
  locked_at: Instant | null;
  lock_reason: LockReason | null;
  failed_login_attempts: number;
  last_failed_login_at: Instant | null;
  account_expires_at: Instant | null;
  last_login_at: Instant | null;
  created_at: Instant | null;
  /** The application invited this person and the invitation is still open (Devise invitable): no reset link yet. */
  invitation_pending: boolean;
}

/**
 * The fields a listing of accounts shows (`users list`, `locked`: table, JSON and CSV): all a page selects, in
 * this order (store/sql/mapping.ts normaliseListed reads them by position).
 */
export const LISTED_FIELDS = [
  'id', 'username', 'first_name', 'last_name', 'email', 'email_verified_at', 'pending_email', 'phone', 'agency',
  'locked_at', 'lock_reason', 'failed_login_attempts', 'account_expires_at', 'last_login_at',
] as const satisfies ReadonlyArray<keyof AccountRow>;

/** An account as a listing has it: only the fields it shows are read (a listing of 8,000 parses a quarter fewer values). */
export type ListedAccount = Pick<AccountRow, (typeof LISTED_FIELDS)[number]>;

/** A listed account already written as the account JSON of CONTRACT.md (by the database: store/sql/mapping.ts accountJsonSql). */
export class AccountJson {
  constructor(readonly json: string) {}
}

export interface AccountFilter {
  /** Only these accounts. */
  ids?: number[];
  locked?: boolean;
  /** Only locks for these reasons (implies locked). */
  lockReasons?: LockReason[];
  agencyId?: number;
  missingEmail?: boolean;
  /** Part of a username, name or email address, taken literally. */
  search?: string;
  /** account_expires_at before this instant. */
  expiresBefore?: Date;
  /** account_expires_at at or after this instant. */
  expiresAfter?: Date;
  /** Unlocked accounts whose agreement expired at or before this instant (what `expire` locks). */
  expiredUnlockedAt?: Date;
}

export type AccountOrder = 'id' | 'locked' | 'expiry';

/** Who signs an account's agreement with the user, and who is copied on its mail. */
export interface AccountContacts {
  supervisor: { id: number; username: string; name: string; email: string | null } | null;
  director: { name: string | null; email: string | null } | null;
}

/** An account a bulk change touched, with what it was before. */
export interface Changed {
  account: AccountRow;
  previousReason: LockReason | null;
  previousAttempts: number;
}

/** What `db status` says about the host. */
export interface HostReport {
  schema: HostKind;
  /** The host's account table, e.g. public.users. */
  table: string;
  /** Which optional host features were found (agency, phone, names, active flag, confirmable, deleted_at…). */
  optional: Record<string, boolean>;
  /** Required host columns that are missing: non-empty means the tool cannot run (exit 2). */
  missing: string[];
  /** Host settings that must equal the web application's (devise), for the reader to compare. */
  settings: Record<string, string>;
}

/** Counters of `report compliance` for one agency (agencyId null: accounts without one). */
export interface ComplianceCounts {
  agencyId: number | null;
  accounts: number;
  expired: number;
  expiring30d: number;
  missingSignatures: number;
  missingEmail: number;
  unverifiedEmail: number;
  missingPhone: number;
  lockedOver30d: number;
}

/** How reset links are made and judged on this host; the link history itself is the tool's own table. */
export interface ResetHost {
  /** How the link carries the raw token: its query parameter and pattern (to tell a cut-off token from an unknown one). */
  readonly format: TokenFormat;
  /** A fresh raw token from the CSPRNG. */
  newRaw(): string;
  /** What the history (and, for Devise, the host column) stores for a raw token: never the token itself. */
  digest(raw: string): string;
  /** Make the host accept this digest for the account (Devise: users.reset_password_token); one live link per user. */
  activate(tx: Tx, userId: number, digest: string, now: Date): Promise<void>;
  /** Withdraw it, if it is still the live one. */
  deactivate(tx: Tx, userId: number, digest: string): Promise<void>;
  /** A link the host takes now that is not in the history (the application sent it itself), or undefined. */
  findLive(digest: string, now: Date): Promise<{ userId: number } | undefined>;
  /** Whether the host still takes it: 'live', 'gone' (used or replaced by the application itself), or 'ours' (the history decides). */
  hostState(userId: number, digest: string, now: Date): Promise<'live' | 'gone' | 'ours'>;
}

/** How email confirmation links are made on this host; the link history is the tool's own table. */
export interface VerifyHost {
  /** How the link carries the raw token. */
  readonly format: TokenFormat;
  newRaw(): string;
  /** Under the account's row lock: make the host take `raw` as confirming `address`; false when the account no longer waits for that address. */
  activate(tx: Tx, userId: number, address: string, raw: string, now: Date): Promise<boolean>;
  /** Withdraw it, if it is still the live one. */
  deactivate(tx: Tx, userId: number, raw: string): Promise<void>;
}

/** An address change as the host records it. */
export interface AddressChange {
  email: string;
  /** Known to be right (confirmed by phone): the host takes it as confirmed at once. */
  verified: boolean;
  phone?: string;
  /** The address read before the change: the write applies only while it is still there (compare-and-set). */
  expectedEmail: string | null;
  now: Date;
}

/** An account holding an address: as its email, or as a change waiting for confirmation (`pending`). */
export interface AddressOwner {
  id: number;
  username: string;
  pending?: boolean;
  /** Soft-deleted (Devise `deleted_at`): gone for the application, but its row still holds the address. */
  deleted?: boolean;
}

export interface AccountStore {
  readonly kind: HostKind;
  /** The tool's database; the host tables live in it (native, devise) or elsewhere (a REST host). */
  readonly knex: Knex;
  readonly reset: ResetHost;
  readonly verify: VerifyHost;
  /** Whether an email change waits for the person's confirmation before it takes effect (Devise reconfirmable). */
  readonly reconfirms: boolean;
  /** Whether admin and agreement locks can be set (Devise needs an active flag). */
  readonly canLock: boolean;

  describe(): Promise<HostReport>;

  // -- reading --
  findById(id: number): Promise<AccountRow | undefined>;
  findByLogin(login: string): Promise<AccountRow | undefined>;
  /** Accounts holding this address (any case), at most `max`, by id. */
  findByEmail(email: string, max?: number): Promise<AccountRow[]>;
  /** Accounts page by page on a keyset, so a million rows stream with flat memory; each page one array (never empty). */
  pages(filter: AccountFilter, order?: AccountOrder, limit?: number, pageSize?: number): AsyncGenerator<AccountRow[]>;
  /** The same pages with only what a listing shows (LISTED_FIELDS). */
  listPages(filter: AccountFilter, order?: AccountOrder, limit?: number): AsyncGenerator<ListedAccount[]>;
  /** The same listing for `--json`: accounts as their JSON text where the host can write it, else as listPages reads them. */
  listJsonPages(filter: AccountFilter, order?: AccountOrder, limit?: number): AsyncGenerator<Array<ListedAccount | AccountJson>>;
  /** The same accounts one at a time. */
  page(filter: AccountFilter, order?: AccountOrder, limit?: number, pageSize?: number): AsyncGenerator<AccountRow>;
  count(filter: AccountFilter): Promise<number>;
  /** Login names of these ids (accounts that no longer exist are absent). */
  usernames(ids: number[]): Promise<Map<number, string>>;
  agencyByName(name: string): Promise<{ id: number; name: string } | undefined>;
  agencyNames(max?: number): Promise<string[]>;
  /** Supervisor and director of each account; `db` is the caller's transaction when inside one (PGlite has one connection). */
  contacts(accounts: AccountRow[], db?: Knex | Tx): Promise<Map<number, AccountContacts>>;
  /**
   * Other accounts using this address (as email or pending email), excluding `exceptId`. A Devise host also
   * names soft-deleted rows (`deleted`: its unique index and Rails' uniqueness validation still see them).
   */
  addressOwners(email: string, exceptId?: number, db?: Knex | Tx): Promise<AddressOwner[]>;
  /** Addresses held by more than one account, lower-cased, with how many. */
  sharedAddresses(): Promise<Map<string, number>>;
  complianceCounts(now: Date, agencyId?: number): Promise<ComplianceCounts[]>;
  /** Agency id → name, for the agencies a report lists (all when `ids` is undefined). */
  agencies(ids?: number[]): Promise<Array<{ id: number; name: string }>>;

  // -- writing, inside the caller's transaction; each is conditional and returns only what it changed --
  /** Lock the row for the rest of `tx` and return it fresh (serialises changes to one account). */
  lockRow(tx: Tx, id: number): Promise<AccountRow | undefined>;
  /** Lift locks of these reasons from these accounts: clears the lock, its reason and the failed-login count. */
  unlock(tx: Tx, ids: number[], reasons: readonly LockReason[], now: Date): Promise<Changed[]>;
  /** An administrator's lock, replacing any other lock; undefined when already admin-locked. */
  adminLock(tx: Tx, id: number, now: Date): Promise<Changed | undefined>;
  /** Lock unlocked accounts whose agreement expired at or before `now`: these ids, or the next `limit` after `afterId`. */
  expire(tx: Tx, now: Date, which: { ids: number[] } | { afterId: number; limit: number }): Promise<Changed[]>;
  /** Set the agreement expiry and lift an agreement lock (never another); read the old state first with lockRow. */
  renew(tx: Tx, id: number, expiresAt: Date, now: Date): Promise<{ lifted: boolean; lockReason: LockReason | null }>;
  /**
   * Change the address (and phone); false when the address was changed by someone else meanwhile. A host that
   * reconfirms keeps the old address until the person confirms the new one (unless `verified`).
   */
  setAddress(tx: Tx, id: number, change: AddressChange): Promise<boolean>;
  /** Set the direct phone number. */
  setPhone(tx: Tx, id: number, phone: string, now: Date): Promise<void>;
  /** Mark the current address confirmed. */
  markVerified(tx: Tx, id: number, now: Date): Promise<void>;
}
