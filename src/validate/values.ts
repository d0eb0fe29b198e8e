/**
 * The edge: one commander parser per kind of value, so every flag and argument is checked while argv
 * is parsed — before the configuration is read, the database opened or anything written. Each parser
 * carries its kind, so the property tests generate hostile values from the command definitions alone.
 */
import { UsageError } from '../errors.js';
import { parseCount, parseDate, parseDuration, parseTicket, parseUserRef, quote } from '../parse.js';
import { parsePhone } from '../services/email/email-address.js';
import { checkAddress } from './address.js';
import { parseDatabaseUrl } from './database-url.js';
import { parseDnsServer } from './host.js';
import { unsafeCharacters } from './chars.js';
import { actorName } from './settings.js';
import { checkText, TEXT_LIMITS } from './text.js';

export type ValueKind =
  | 'user'
  | 'address'
  | 'duration'
  | 'date'
  | 'count'
  | 'ticket'
  | 'reason'
  | 'filter'
  | 'actor'
  | 'action'
  | 'link'
  | 'phone'
  | 'dns-server'
  | 'database-url';

/** A commander argParser that knows which kind of value it checks. */
export type ValueParser<T = string> = ((value: string, previous?: T) => T) & { kind: ValueKind };

/**
 * Wrap a kind's check with the rule every value shares: no control, bidi or broken characters
 * anywhere, not even at the ends where trimming would hide them. The kind's own check speaks first,
 * as its message says best what to type instead.
 */
function tagged<T>(kind: ValueKind, what: string, fn: (value: string, previous?: T) => T): ValueParser<T> {
  const parse = (v: string, previous?: T) => {
    const parsed = fn(v, previous);
    const unsafe = unsafeCharacters(v);
    if (unsafe) throw new UsageError(`${what} ${quote(v)} ${unsafe}; type it again as plain text`);
    return parsed;
  };
  return Object.assign(parse, { kind });
}

/** Parsers return the value as the handler expects it (trimmed text); handlers convert with the same functions. */
export const value = {
  /** `<user>`: username, email address or #id. */
  user: (what = 'user') => tagged('user', what, (v: string) => (parseUserRef(v, what), v.trim())),
  /** `[user...]`: each one checked; commander folds the list through `previous`. */
  users: () => tagged<string[]>('user', 'user', (v, previous = []) => [...previous, (parseUserRef(v), v.trim())]),
  address: (what: string) => tagged('address', what, (v: string) => checkAddress(v, what)),
  duration: (what: string) => tagged('duration', what, (v: string) => (parseDuration(v, what), v.trim())),
  date: (what: string) => tagged('date', what, (v: string) => (parseDate(v, what), v.trim())),
  count: (what: string, min = 1, max = 10_000_000) => tagged('count', what, (v: string) => String(parseCount(v, what, min, max))),
  ticket: () => tagged('ticket', '--ticket', (v: string) => parseTicket(v)),
  /** Prose that is stored, e.g. a lock reason. */
  reason: (what: string) =>
    tagged('reason', what, (v: string) => checkText(v, what, { max: TEXT_LIMITS.reason, kind: 'prose', example: `write plain text, e.g. ${what} "left the agency on 2026-11-30"` })),
  /** Names and words to look for (agency, search text, an actor to filter on). */
  filter: (what: string) => tagged('filter', what, (v: string) => checkText(v, what, { max: TEXT_LIMITS.filter, kind: 'name' })),
  actor: (what: string) => tagged('actor', what, (v: string) => actorName(v, what)),
  /** An audit action name such as unlock or email.set. */
  action: (what: string) =>
    tagged('action', what, (v: string) => {
      const a = v.trim();
      if (!/^[a-z][a-z_]*(\.[a-z_]+)*$/.test(a) || a.length > 64) throw new UsageError(`${what} ${quote(v)} is not an action name; use e.g. unlock, lock or email.set`);
      return a;
    }),
  /** A pasted reset link or token: whatever it holds is judged by `reset check`, but it must be text. */
  link: (what: string) =>
    tagged('link', what, (v: string) => checkText(v, what, { max: 4096, kind: 'name', example: 'paste the whole link from the email' })),
  phone: (what: string) =>
    tagged('phone', what, (v: string) => {
      const p = parsePhone(v);
      if (!p.ok) throw new UsageError(`${what} ${quote(v)} ${p.reason}; e.g. ${what} "(555) 123-4567"`);
      return v;
    }),
  dnsServer: (what: string) => tagged('dns-server', what, (v: string) => parseDnsServer(v, what)),
  databaseUrl: (what: string) => tagged('database-url', what, (v: string) => parseDatabaseUrl(v, what)),
};
