/**
 * A SQL host described as a mapping: where its accounts are (FROM), which rows exist (soft delete), and the
 * SQL expression behind every field of AccountRow. The native tables and a Devise table are two mappings;
 * a custom table would be a third. Reading (filters, keyset paging, lookups, aggregates) is written once
 * against a mapping in reader.ts.
 */
import type { AccountRow, Instant, ListedAccount } from '../types.js';

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
 * A timestamptz expression selected as the database's text of its UTC wall time (`2026-11-20 10:00:00.123456`):
 * the cheapest form the server writes (formatting it with to_char cost a listing of 8,000 accounts half its
 * server time) and one the reader turns into the ISO string `Date#toISOString` writes by moving characters
 * (isoFromUtcText), so no Date is built for a time that is only printed.
 */
export function utcTextSql(expr: string): string {
  return `((${expr})::timestamptz at time zone 'UTC')::text`;
}

/** to_char's pattern for toISOString's form of a UTC time (MS truncates to the millisecond, as toISOString's reader did). */
const ISO_PATTERN = `'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'::text`;

/** A timestamptz in the years toISOString writes as YYYY (1–9999): the only ones ISO_PATTERN writes as it does. */
const inPlainYears = (t: string) => `${t} >= '0001-01-01 00:00:00+00'::timestamptz and ${t} < '10000-01-01 00:00:00+00'::timestamptz`;

/**
 * The same time formatted by the database as the ISO string: the exact form, read when the session's DateStyle
 * is not ISO (utcTextSql's text is then in another layout). to_char's MS truncates to the millisecond, as
 * postgres-date (pg) and V8's Date (PGlite) did. Only years 1-9999 are written so; any other time (BC, year
 * 10000 on) comes as the text ISO DateStyle writes in UTC, whatever the session's (its own text would be in
 * that DateStyle: BC read as null, day and month swapped), which the reader reads as pg does (raw-times.ts readTextTimes
 * in reader.ts); infinity as itself.
 */
export function isoSql(expr: string): string {
  const t = `(${expr})::timestamptz`;
  const bc = `case when ${t} < '0001-01-01 00:00:00+00' then ' BC' else '' end`;
  return `case when ${inPlainYears(t)} then to_char(${t} at time zone 'UTC', ${ISO_PATTERN}) else coalesce(to_char(${t} at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00' || ${bc}, ${t}::text) end`;
}

/** The characters String#trim removes (ECMAScript WhiteSpace and LineTerminator), as an SQL literal for btrim: fullName's trim. */
const JS_TRIM = "E' \\t\\n\\r\\u000b\\u000c\\u00a0\\ufeff\\u1680\\u2000\\u2001\\u2002\\u2003\\u2004\\u2005\\u2006\\u2007\\u2008\\u2009\\u200a\\u202f\\u205f\\u3000\\u2028\\u2029'";

/** The times accountJson shows or tests: accountJsonSql writes a row only when each is null or in years 1–9999. */
const JSON_TIMES = ['email_verified_at', 'locked_at', 'account_expires_at', 'last_login_at'] as const;

/**
 * The account JSON of CONTRACT.md as JSON.stringify(accountJson(row)) writes it (services/accounts/accounts.ts),
 * character for character, made by the database for a listing's `--json`: the client then parses one value a row
 * instead of fourteen and builds no objects (a listing of 8,000 locked accounts spent most of its time so).
 * Strings go through to_json (the escapes JSON.stringify writes: \" \\ \b \f \n \r \t and \u00xx, lower case), the
 * name is trimmed of exactly what String#trim trims, times are to_char's millisecond-truncated UTC ISO string.
 * NULL — the reader reads that row as a listing does (reader.ts listJsonPages) — when a time it shows is infinite or
 * outside years 1–9999 (toISOString writes those differently). The literal needs a UTF8 database (the reader asks
 * first). Ids beyond 2^53 come exact (JavaScript numbers would round them).
 *
 * Every function is named with its schema and every operator has operands of its exact types: a function another
 * role created in a schema on the search path is never what runs with the administrator's rights (a public.to_json(text)
 * matches text more closely than pg_catalog.to_json(anyelement), and `text || bigint` would take a public operator
 * over pg_catalog's polymorphic one). So the pieces are joined by pg_catalog.concat, each one text and never null.
 */
export function accountJsonSql(f: Record<Field, string>): string {
  const text = (e: string) => `(${e})::text`;
  const str = (e: string) => `coalesce(pg_catalog.to_json(${text(e)})::text, 'null')`;
  const utc = (e: string) => `pg_catalog.timezone('UTC'::text, (${e})::timestamptz)`;
  const time = (e: string) =>
    `case when (${e})::timestamptz is null then 'null' else pg_catalog.concat('"', pg_catalog.to_char(${utc(e)}, ${ISO_PATTERN}), '"') end`;
  const bool = (cond: string) => `case when ${cond} then 'true' else 'false' end`;
  const plain = JSON_TIMES.map((k) => {
    const t = `(${f[k]})::timestamptz`;
    return `(${t} is null or (${inPlainYears(t)}))`;
  }).join(' and ');
  const locked = `(${f.locked_at}) is not null`;
  const name = `pg_catalog.btrim(pg_catalog.concat(${text(f.first_name)}, ' ', ${text(f.last_name)}), ${JS_TRIM}::text)`;
  const pieces = [
    `'{"id":'`, `((${f.id})::int8)::text`,
    `',"username":'`, str(f.username),
    `',"name":'`, `pg_catalog.to_json(${name})::text`,
    `',"email":'`, str(f.email),
    `',"emailVerified":'`, bool(`${text(f.email)} <> ''::text and (${f.email_verified_at}) is not null`),
    `',"phone":'`, str(f.phone),
    `',"agency":'`, str(f.agency),
    `',"locked":'`, bool(locked),
    `',"lockedAt":'`, time(f.locked_at),
    `',"lockReason":'`, str(`case when ${locked} then ${f.lock_reason} end`),
    `',"failedLoginAttempts":'`, `coalesce((${f.failed_login_attempts})::int8, 0::int8)::text`,
    `',"accountExpiresAt":'`, time(f.account_expires_at),
    `',"lastLoginAt":'`, time(f.last_login_at),
    `case when ${text(f.pending_email)} <> ''::text then pg_catalog.concat(',"pendingEmail":', pg_catalog.to_json(${text(f.pending_email)})::text) else '' end`,
    `'}'`,
  ];
  return `case when ${plain} then pg_catalog.concat(${pieces.join(', ')}) end`;
}

/** Whether a selected time is the database's text rather than isoSql's ISO string (which ends in Z; PostgreSQL's text never does). */
export function isTextTime(v: unknown): v is string {
  return typeof v === 'string' && v.charCodeAt(v.length - 1) !== 90;
}

/**
 * utcTextSql's text (DateStyle ISO: `YYYY-MM-DD HH:MM:SS` and up to six fraction digits) as toISOString writes
 * the same instant: the fraction cut to milliseconds (truncated, as postgres-date and to_char's MS), `Z` for
 * UTC. 'slow' for the rare text of a time outside years 1–9999 (infinity, BC, year 10000 on: utcTextAsZoned
 * gives it to pg's parser), undefined for text in no ISO layout (the session's DateStyle is another).
 * Written with one String.fromCharCode: slices joined by a template make a rope V8 flattens again when the
 * string is printed, which for 48,000 times doubled the time spent on them (garbage included).
 */
export function isoFromUtcText(s: string): Instant | 'slow' | undefined {
  const n = s.length;
  if (n === 19 || (n >= 21 && n <= 26 && s.charCodeAt(19) === 46)) {
    const y1 = s.charCodeAt(0), y2 = s.charCodeAt(1), y3 = s.charCodeAt(2), y4 = s.charCodeAt(3);
    const m1 = s.charCodeAt(5), m2 = s.charCodeAt(6), d1 = s.charCodeAt(8), d2 = s.charCodeAt(9);
    const h1 = s.charCodeAt(11), h2 = s.charCodeAt(12), i1 = s.charCodeAt(14), i2 = s.charCodeAt(15);
    const s1 = s.charCodeAt(17), s2 = s.charCodeAt(18);
    // A missing fraction digit is 0.
    const f1 = n > 20 ? s.charCodeAt(20) : 48, f2 = n > 21 ? s.charCodeAt(21) : 48, f3 = n > 22 ? s.charCodeAt(22) : 48;
    let ok = s.charCodeAt(4) === 45 && s.charCodeAt(7) === 45 && s.charCodeAt(10) === 32 && s.charCodeAt(13) === 58 && s.charCodeAt(16) === 58;
    ok &&= digit(y1) && digit(y2) && digit(y3) && digit(y4) && digit(m1) && digit(m2) && digit(d1) && digit(d2);
    ok &&= digit(h1) && digit(h2) && digit(i1) && digit(i2) && digit(s1) && digit(s2) && digit(f1) && digit(f2) && digit(f3);
    for (let i = 23; ok && i < n; i++) ok = digit(s.charCodeAt(i));
    // prettier-ignore
    return ok ? String.fromCharCode(y1, y2, y3, y4, 45, m1, m2, 45, d1, d2, 84, h1, h2, 58, i1, i2, 58, s1, s2, 46, f1, f2, f3, 90) : undefined;
  }
  return s === 'infinity' || s === '-infinity' || RARE_ISO.test(s) ? 'slow' : undefined;
}

/** The ISO DateStyle's text of a time before year 1 (BC) or after 9999; in another DateStyle none matches (reader.ts reads the page again). */
const RARE_ISO = /^(?:\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{1,6})? BC|\d{5,}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{1,6})?(?: BC)?)$/;

/** Whether a character code is an ASCII digit. */
function digit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** A rare utcTextSql text (isoFromUtcText said 'slow') as PostgreSQL writes the timestamptz in UTC, for pg's parser. */
export function utcTextAsZoned(s: string): string {
  if (s === 'infinity' || s === '-infinity') return s;
  return s.endsWith(' BC') ? `${s.slice(0, -3)}+00 BC` : `${s}+00`;
}

/** A time already read (an ISO string, or text no Date holds): the string as it came (a PGlite Date, should one come, as its ISO string). */
function readInstant(v: unknown): Instant | null {
  if (v === null || v === undefined || typeof v === 'string') return v ?? null;
  return v instanceof Date && !Number.isNaN(v.getTime()) ? v.toISOString() : String(v);
}

/** Thrown by a normaliser reading utcTextSql's text when a time needs more than moving its characters (raw-times.ts normaliseRows). */
export const RARE_TIME = Object.freeze({ rareTime: true });

/** A time as utcTextSql selects it, as its ISO string; RARE_TIME when it is not in the plain layout. */
function utcInstant(v: unknown): Instant | null {
  if (typeof v !== 'string') return readInstant(v);
  const iso = isoFromUtcText(v);
  if (iso === undefined || iso === 'slow') throw RARE_TIME;
  return iso;
}

/**
 * pg returns bigint ids and some counts as strings, PGlite as numbers: make one shape. A new object with
 * every field in one order (no query-only columns such as a sort key), so the code that reads rows sees
 * one hidden class. Timestamps are ISO strings whichever database gave them.
 */
export function normaliseAccount(row: Record<string, unknown>, utc = false): AccountRow {
  const r = row as unknown as Record<keyof AccountRow, unknown> & AccountRow;
  const instant = utc ? utcInstant : readInstant;
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

/** A listing's row, the values of LISTED_FIELDS in their order (rowMode 'array'), in one shape, as normaliseAccount makes a whole one. */
export function normaliseListed(r: unknown[], utc = false): ListedAccount {
  const instant = utc ? utcInstant : readInstant;
  return {
    id: Number(r[0]),
    username: r[1] as string,
    first_name: (r[2] ?? '') as string,
    last_name: (r[3] ?? '') as string,
    email: r[4] as string | null,
    email_verified_at: instant(r[5]),
    pending_email: r[6] as string | null,
    phone: r[7] as string | null,
    agency: r[8] as string | null,
    locked_at: instant(r[9]),
    lock_reason: r[10] as ListedAccount['lock_reason'],
    failed_login_attempts: Number(r[11] ?? 0),
    account_expires_at: instant(r[12]),
    last_login_at: instant(r[13]),
  };
}
