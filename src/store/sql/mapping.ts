/**
 * A SQL host described as a mapping: where its accounts are (FROM), which rows exist (soft delete), and the
 * SQL expression behind every field of AccountRow. The native tables and a Devise table are two mappings;
 * a custom table would be a third. Reading (filters, keyset paging, lookups, aggregates) is written once
 * against a mapping in reader.ts.
 */
import type { AccountRow, Instant } from '../types.js';

export type Field = keyof AccountRow;

/** The fields that are instants (timestamptz expressions in every mapping). */
export const TIME_FIELDS: ReadonlySet<Field> = new Set(['email_verified_at', 'locked_at', 'last_failed_login_at', 'account_expires_at', 'last_login_at', 'created_at']);

export interface SqlMapping {
  /** FROM clause: the account table as `u`, its agency as `a` (when there is one), anything else the fields need. */
  from: string;
  /** Conditions every account row meets (e.g. `u.deleted_at is null`); empty when none. */
  exists: string[];
  /** Every field as an SQL expression, given the run's clock (inlined as a timestamptz literal). */
  fields(now: Date): Record<Field, string>;
  /** True when the account is locked (any reason), given the clock. */
  locked(now: Date): string;
  /** The expressions `--search` looks in (login, names, addresses). */
  searchable: string[];
  /** The agency table and its name column, or null when the host has none. */
  agency: { table: string; name: string } | null;
}

/** A Date as an SQL literal: generated from a Date, never from input, so inlining it is safe. */
export function ts(now: Date): string {
  return `'${now.toISOString()}'::timestamptz`;
}

/**
 * A timestamptz expression selected as the ISO string `Date#toISOString` writes (`2026-11-20T10:00:00.000Z`),
 * formatted by the database: a listing of 8,000 accounts then builds no Date and no string for its 40,000
 * times. to_char's MS truncates to the millisecond, as postgres-date (pg) and V8's Date (PGlite) did. Only
 * years 1-9999 are written so (kept short: the embedded database takes milliseconds to parse a longer
 * statement); any other time (infinity, BC, year 10000 on) comes as the database's text, which the reader
 * reads as pg did (readTextTimes in reader.ts).
 */
export function isoSql(expr: string): string {
  const t = `(${expr})::timestamptz`;
  return `case when ${t} >= '0001-01-01 00:00:00+00' and ${t} < '10000-01-01 00:00:00+00' then to_char(${t} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') else ${t}::text end`;
}

/** Whether a selected time is the database's text rather than isoSql's ISO string (which ends in Z; PostgreSQL's text never does). */
export function isTextTime(v: unknown): v is string {
  return typeof v === 'string' && v.charCodeAt(v.length - 1) !== 90;
}

/** A time as the reader selects it (isoSql): the string as it came (a PGlite Date, should one come, as its ISO string). */
function instant(v: unknown): Instant | null {
  if (v === null || v === undefined || typeof v === 'string') return v ?? null;
  return v instanceof Date && !Number.isNaN(v.getTime()) ? v.toISOString() : String(v);
}

/**
 * pg returns bigint ids and some counts as strings, PGlite as numbers: make one shape. A new object with
 * every field in one order (no query-only columns such as a sort key), so the code that reads rows sees
 * one hidden class. Timestamps are ISO strings whichever database gave them.
 */
export function normaliseAccount(row: Record<string, unknown>): AccountRow {
  const r = row as unknown as Record<keyof AccountRow, unknown> & AccountRow;
  return {
    id: Number(r.id),
    username: r.username,
    first_name: r.first_name ?? '',
    last_name: r.last_name ?? '',
    email: r.email,
    email_verified_at: instant(r.email_verified_at),
    pending_email: r.pending_email,
    phone: r.phone,
    agency_id: r.agency_id === null || r.agency_id === undefined ? null : Number(r.agency_id),
    agency: r.agency,
    supervisor_id: r.supervisor_id === null || r.supervisor_id === undefined ? null : Number(r.supervisor_id),
    locked_at: instant(r.locked_at),
    lock_reason: r.lock_reason,
    failed_login_attempts: Number(r.failed_login_attempts ?? 0),
    last_failed_login_at: instant(r.last_failed_login_at),
    account_expires_at: instant(r.account_expires_at),
    last_login_at: instant(r.last_login_at),
    created_at: instant(r.created_at),
    invitation_pending: r.invitation_pending,
  };
}
