/**
 * Email addresses as values of flags and variables: one address with exactly the rules `email set`
 * uses (services/email/email-address.ts), and HMIS_MAIL_FROM, which may add a display name.
 */
import { UsageError } from '../errors.js';
import { parseEmailAddress } from '../services/email/email-address.js';
import { INVISIBLE, unsafeCharacters } from './chars.js';
import { quote } from './quote.js';

/** One address by the `email set` rules, normalised (IDN domain to punycode, domain lowercased). */
export function checkAddress(raw: string, what: string): string {
  const p = parseEmailAddress(raw);
  if (!p.ok) throw new UsageError(`${what} ${quote(raw)} ${p.reason}; give one plain address such as jane.doe@agency.org`);
  return p.address;
}

export interface Sender {
  /** The From header: `Display Name <address>` or the bare address. */
  header: string;
  address: string;
  name: string | null;
}

// Characters a display name may not hold even quoted: they would change how the header parses
// (quotes, backslashes, brackets, comments, group and route syntax), or (an @) make the name pass
// for another sender's address.
const NAME_SPECIALS = /["\\<>()[\]:;@]/;
// RFC 5322 specials left that need the name to be quoted.
const NEEDS_QUOTES = /[.,]/;

/** HMIS_MAIL_FROM: `no-reply@hmis.example.org` or `HMIS Support <no-reply@hmis.example.org>`. */
export function parseSender(raw: string, what: string): Sender {
  const value = raw.trim();
  const fix = 'give an address or Display Name <address>, e.g. HMIS Support <no-reply@hmis.example.org>';
  // The address rules' own hints ("; give the bare address only") do not fit a sender that may have a name.
  const fail = (problem: string) => new UsageError(`${what} ${quote(raw)} ${problem.split(';')[0]}; ${fix}`);
  const m = /^(.*?)\s*<([^<>]*)>$/s.exec(value);
  if (!m) {
    const p = parseEmailAddress(value);
    if (!p.ok) throw fail(p.reason);
    return { header: p.address, address: p.address, name: null };
  }
  let name = m[1]!;
  if (/^".*"$/s.test(name)) name = name.slice(1, -1);
  const problem =
    unsafeCharacters(name) ??
    (INVISIBLE.test(name) ? 'has invisible characters in the display name' : null) ??
    (NAME_SPECIALS.test(name) ? 'has one of " \\ < > ( ) [ ] : ; @ in the display name' : null) ??
    // An RFC 2047 encoded word (=?utf-8?b?…?=) would be decoded by mail clients into a name no rule checked.
    (name.includes('=?') ? 'has =? (an encoded word) in the display name; write the name as plain text' : null) ??
    (name.trim() === '' ? 'has an empty display name' : null) ??
    (name.length > 100 ? 'has a display name longer than 100 characters' : null);
  if (problem) throw fail(problem);
  const p = parseEmailAddress(m[2]!);
  if (!p.ok) throw fail(`has an address that ${p.reason}`);
  const shown = NEEDS_QUOTES.test(name) ? `"${name}"` : name;
  return { header: `${shown} <${p.address}>`, address: p.address, name };
}
