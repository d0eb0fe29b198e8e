/**
 * Email addresses and phone numbers as staff type them: a real RFC 5322 parser (email-addresses) plus
 * stricter rules of our own, because every address we accept is one we will send reset links to.
 */
import { domainToASCII } from 'node:url';
import { createRequire } from 'node:module';
import { BIDI, CONTROL, INVISIBLE, SEPARATOR, WHITESPACE } from '../../validate/chars.js';

// The RFC 5322 parser is loaded on first use: the fast path below and `--help` never need it.
const require = createRequire(import.meta.url);
const emailAddresses = () => require('email-addresses') as typeof import('email-addresses');

export type Parsed<T extends string> = ({ ok: true } & { [K in T]: string }) | { ok: false; reason: string };

// RFC 5322 dot-atom text: what an unquoted local part may hold.
const ATEXT = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+$/;
const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
// dot-atom "@" lowercase LDH labels, no punycode, alphabetic TLD: the common, already-normal form. Every
// string it matches passes all the rules below and the RFC 5322 grammar, so the parser (about 30 µs a
// call) is skipped for it; `email check` over a million accounts relies on that.
const PLAIN = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:(?!xn--)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?!xn--)[a-z]{2,63}$/;

/** Validate and normalise one address: IDN domain to punycode, domain lowercased, local part kept as typed. */
export function parseEmailAddress(raw: string, options: { fastPath?: boolean } = {}): Parsed<'address'> {
  const fail = (reason: string) => ({ ok: false as const, reason });
  if (typeof raw !== 'string') return fail('is not text');
  const input = raw.replace(/^ +| +$/g, '');
  if (options.fastPath !== false && PLAIN.test(input) && input.length <= 254 && input.indexOf('@') <= 64) return { ok: true, address: input };
  if (input === '') return fail('is empty');
  if (CONTROL.test(input)) return fail('contains control characters (such as CR, LF, NUL or tab)');
  // Invisible or direction-changing characters make an address look like another one on screen.
  if (INVISIBLE.test(input) || BIDI.test(input) || SEPARATOR.test(input)) return fail('contains invisible or direction-changing characters');
  if (/[<>]/.test(input)) return fail('has a display name or angle brackets; give the bare address only');
  if (/[,;]/.test(input)) return fail('holds more than one address or a group; give exactly one address');
  if (/[()]/.test(input)) return fail('contains a comment in parentheses; give the bare address only');
  if (input.includes('"')) return fail('has a quoted local part; quoted addresses are not accepted');
  if (input.includes('\\')) return fail('contains a backslash');
  if (WHITESPACE.test(input)) return fail('contains spaces');
  const ats = input.split('@').length - 1;
  if (ats === 0) return fail('has no @');
  if (ats > 1) return fail('contains more than one @');
  const at = input.indexOf('@');
  const local = input.slice(0, at);
  const domain = input.slice(at + 1);
  if (local === '') return fail('has nothing before the @');
  if (domain === '') return fail('has nothing after the @');
  if (local.length > 64) return fail(`has a local part of ${local.length} characters; at most 64 are allowed`);
  if (/[^\x21-\x7e]/.test(local)) return fail('has non-ASCII characters before the @; most mail relays cannot deliver to such mailboxes');
  if (local.startsWith('.') || local.endsWith('.') || local.includes('..')) return fail('has a dot at the start or end of the local part, or two dots in a row');
  if (!local.split('.').every((part) => ATEXT.test(part))) return fail('has characters that are not allowed before the @');
  if (domain.startsWith('[')) return fail('has an IP address instead of a domain name');

  const ascii = asciiDomain(domain);
  if (!ascii.ok) return ascii;
  const address = `${local}@${ascii.domain}`;
  if (address.length > 254) return fail(`is ${address.length} characters long; at most 254 are allowed`);

  // The parser has the last word on the grammar; it must read back exactly the address we built.
  const parsed = emailAddresses().parseOneAddress({ input: address, rejectTLD: true });
  if (!parsed || parsed.type !== 'mailbox' || parsed.name !== null || parsed.address !== address || parsed.parts.comments.length > 0) {
    return fail('is not a valid address (RFC 5322)');
  }
  return { ok: true, address };
}

/** The domain as lowercase ASCII (punycode for IDN), with every label checked. */
function asciiDomain(domain: string): Parsed<'domain'> {
  const fail = (reason: string) => ({ ok: false as const, reason });
  if (/[\x00-\x2c/:-@[-`{-\x7f]/.test(domain)) return fail('has characters that are not allowed in a domain name (letters, digits, hyphens and dots only)');
  if (domain.endsWith('.')) return fail('ends with a dot');
  if (domain.startsWith('.') || domain.includes('..')) return fail('has an empty label in the domain (two dots in a row, or a leading dot)');
  if (!domain.includes('.')) return fail('has a domain without a dot (e.g. agency.org is needed, not agency)');
  const ascii = domainToASCII(domain).toLowerCase();
  if (ascii === '') return fail('has a domain that is not a valid internationalised domain name');
  const typed = domain.split('.');
  const labels = ascii.split('.');
  if (labels.length !== typed.length) return fail('has a domain whose characters change its structure (e.g. a full-width dot)');
  for (let i = 0; i < labels.length; i++) {
    // A non-ASCII label that maps to plain ASCII (full-width letters, ligatures) imitates another domain.
    if (/[^\x00-\x7f]/.test(typed[i]!) && !labels[i]!.startsWith('xn--')) return fail('has look-alike characters in the domain');
    if (!LABEL.test(labels[i]!)) return fail(`has an invalid domain label ${JSON.stringify(typed[i])} (letters, digits and inner hyphens only, at most 63)`);
  }
  if (ascii.length > 253) return fail('has a domain longer than 253 characters');
  if (/^\d+$/.test(labels[labels.length - 1]!)) return fail('has a numeric top-level domain (an IP address?)');
  return { ok: true, domain: ascii };
}

/** Validate a phone number: digits, +, spaces, dashes, dots, parentheses; 7 to 20 digits. Spacing is tidied. */
export function parsePhone(raw: string): Parsed<'phone'> {
  if (CONTROL.test(String(raw))) return { ok: false, reason: 'contains control characters' };
  const phone = String(raw).trim().replace(/ {2,}/g, ' ');
  if (phone === '') return { ok: false, reason: 'is empty' };
  if (!/^\+?[0-9 ().-]+$/.test(phone)) return { ok: false, reason: 'may hold only digits, a leading +, spaces, dashes, dots and parentheses' };
  const digits = phone.replace(/\D/g, '').length;
  if (digits < 7 || digits > 20) return { ok: false, reason: `has ${digits} digits; a phone number has 7 to 20` };
  return { ok: true, phone };
}

/** True when `raw` is a usable phone number. */
export function isPhone(raw: string | null | undefined): boolean {
  return typeof raw === 'string' && parsePhone(raw).ok;
}

/** The tidied phone number, or throw when it is not one (callers check with parsePhone first). */
export function normalisePhone(raw: string): string {
  const p = parsePhone(raw);
  if (!p.ok) throw new Error(`phone ${p.reason}`);
  return p.phone;
}
