/** Parsers for the values people type: user references, counts, tickets (durations and dates: validate/time.ts). */
import { UsageError } from './errors.js';
import { INVISIBLE, unsafeCharacters } from './validate/chars.js';
import { quote } from './validate/quote.js';

export { quote } from './validate/quote.js';
export { formatDuration, parseDate, parseDuration } from './validate/time.js';

/** A whole number within bounds, for --limit, --users and friends. */
export function parseCount(value: string, what: string, min = 1, max = 10_000_000): number {
  const text = value.trim();
  // A negative number is a whole number, but not one this takes: said as out of range, as a too-large one is.
  if (!/^-?\d+$/.test(text)) {
    throw new UsageError(`${what} ${quote(value)} is not a whole number; give a number from ${min} to ${max}`);
  }
  const n = Number(text);
  if (n < min || n > max) throw new UsageError(`${what} ${text} is out of range; give a number from ${min} to ${max}`);
  return n;
}

export type UserRef =
  | { kind: 'id'; id: number; digits: string }
  | { kind: 'email'; email: string }
  | { kind: 'username'; username: string };

/**
 * `<user>`: a username (case-insensitive), an email address (contains @), or #<id>. Any #digits is
 * well formed; an id no account can have (beyond the id column's range) is left for the lookup to
 * report as "does not exist" (exit 3), so it never reaches the database as an out-of-range number.
 */
export function parseUserRef(value: string, what = 'user'): UserRef {
  const v = value.trim();
  if (v === '') throw new UsageError(`${what === 'user' ? 'a user' : what} is required: give a username, an email address or #<id>`);
  const unsafe = unsafeCharacters(value) ?? (INVISIBLE.test(v) ? 'contains invisible characters (such as a zero-width space)' : null);
  if (unsafe) throw new UsageError(`${what} ${quote(value)} ${unsafe}; give a username, an email address or #<id>`);
  if (v.length > 254) throw new UsageError(`${what} ${quote(value)} is longer than 254 characters; give a username, an email address or #<id>`);
  if (v.startsWith('#')) {
    if (!/^#\d+$/.test(v)) throw new UsageError(`${what} ${quote(value)}: after # give the numeric account id, e.g. #12`);
    const digits = v.slice(1).replace(/^0+(?=\d)/, '');
    return { kind: 'id', id: Number(digits), digits };
  }
  if (v.includes('@')) return { kind: 'email', email: v.toLowerCase() };
  return { kind: 'username', username: v };
}

/** Display form of a user reference, for messages. */
export function describeUserRef(ref: UserRef): string {
  return ref.kind === 'id' ? `#${ref.digits}` : ref.kind === 'email' ? ref.email : ref.username;
}

/** A helpdesk ticket id as the audit trail stores it: 1 to 64 letters, digits, dots, dashes or underscores. */
export const TICKET_RE = /^[A-Za-z0-9._-]{1,64}$/;

/** --ticket: checked before anything runs, so a mistyped ticket never reaches the audit trail. */
export function parseTicket(value: string): string {
  const v = value.trim();
  if (!TICKET_RE.test(v)) {
    throw new UsageError(`--ticket ${quote(value)} is not a ticket id; use 1 to 64 letters, digits, dots, dashes or underscores, e.g. HD-1234`);
  }
  return v;
}
