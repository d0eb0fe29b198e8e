/** Parsers for the values people type: durations, dates, user references, counts. */
import { UsageError } from './errors.js';

const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

/** Show an untrusted value inside a one-line message: quoted, control characters escaped, bounded. */
export function quote(value: string): string {
  const short = value.length > 80 ? `${value.slice(0, 77)}...` : value;
  // JSON.stringify escapes C0 controls and quotes; DEL, C1 controls, line separators, zero-width and
  // bidi characters (which can make a message read differently from what it holds) are escaped by hand.
  return JSON.stringify(short).replace(/[\u007f-\u009f\u00ad\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** "90m", "12h", "30d", "2w" → milliseconds. `what` names the flag or variable in the error. */
export function parseDuration(value: string, what: string): number {
  const m = /^(\d{1,6})([mhdw])$/.exec(value.trim());
  if (!m) {
    throw new UsageError(`${what}: ${quote(value)} is not a duration; write a number and a unit, e.g. 90m, 12h, 30d or 2w`);
  }
  const ms = Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
  if (ms <= 0) throw new UsageError(`${what}: ${quote(value)} must be longer than zero, e.g. 30d`);
  return ms;
}

/** Format milliseconds back the way people write durations (largest exact unit). */
export function formatDuration(ms: number): string {
  for (const [unit, size] of [['w', UNIT_MS.w], ['d', UNIT_MS.d], ['h', UNIT_MS.h]] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${Math.round(ms / UNIT_MS.m)}m`;
}

const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATETIME_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$/;

/** ISO 8601 date ("2026-12-01", taken as UTC midnight) or date-time with zone → Date. */
export function parseDate(value: string, what: string): Date {
  const v = value.trim();
  const bad = () =>
    new UsageError(`${what}: ${quote(value)} is not a date; write ISO 8601, e.g. 2026-12-01 or 2026-12-01T09:00:00Z`);
  const d = DATE_RE.exec(v);
  const dt = d ? null : DATETIME_RE.exec(v);
  const parts = d ?? dt;
  if (!parts) throw bad();
  const [y, mo, day] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  const probe = new Date(Date.UTC(y, mo - 1, day));
  if (probe.getUTCFullYear() !== y || probe.getUTCMonth() !== mo - 1 || probe.getUTCDate() !== day) throw bad();
  if (dt && (Number(dt[4]) > 23 || Number(dt[5]) > 59 || Number(dt[6] ?? 0) > 59)) throw bad();
  const date = d ? probe : new Date(v);
  if (Number.isNaN(date.getTime())) throw bad();
  return date;
}

/** A whole number within bounds, for --limit, --users and friends. */
export function parseCount(value: string, what: string, min = 1, max = 10_000_000): number {
  if (!/^\d+$/.test(value.trim())) {
    throw new UsageError(`${what}: ${quote(value)} is not a whole number; give a number from ${min} to ${max}`);
  }
  const n = Number(value);
  if (n < min || n > max) throw new UsageError(`${what}: ${value} is out of range; give a number from ${min} to ${max}`);
  return n;
}

export type UserRef = { kind: 'id'; id: number } | { kind: 'email'; email: string } | { kind: 'username'; username: string };

/** `<user>`: a username (case-insensitive), an email address (contains @), or #<id>. */
export function parseUserRef(value: string): UserRef {
  const v = value.trim();
  if (v === '') throw new UsageError('a user is required: give a username, an email address or #<id>');
  if (/[\u0000-\u001f\u007f]/.test(v)) {
    throw new UsageError(`user ${quote(value)} contains control characters; give a username, an email address or #<id>`);
  }
  if (v.length > 254) throw new UsageError(`user ${quote(value)} is longer than 254 characters; give a username, an email address or #<id>`);
  if (v.startsWith('#')) {
    if (!/^#\d{1,15}$/.test(v)) throw new UsageError(`user ${quote(value)}: after # give the numeric account id, e.g. #12`);
    return { kind: 'id', id: Number(v.slice(1)) };
  }
  if (v.includes('@')) return { kind: 'email', email: v.toLowerCase() };
  return { kind: 'username', username: v };
}

/** Display form of a user reference, for messages. */
export function describeUserRef(ref: UserRef): string {
  return ref.kind === 'id' ? `#${ref.id}` : ref.kind === 'email' ? ref.email : ref.username;
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
