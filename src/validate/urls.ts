/**
 * The three URLs of the configuration — the database (--db, HMIS_DATABASE_URL), the HMIS site
 * (HMIS_SITE_URL) and the mail relay (HMIS_SMTP_URL) — parsed in full once, at start, and handed on
 * only in their normalised form, so what was checked is exactly what is used.
 */
import { UsageError } from '../errors.js';
import { BIDI, CONTROL, HIDDEN, INVISIBLE, LONE_SURROGATE, SEPARATOR, WHITESPACE } from './chars.js';
import { portProblem, urlHost } from './host.js';
import { quote } from './quote.js';

interface Authority {
  scheme: string;
  userinfo: string | null;
  host: string;
  port: string | null;
  rest: string;
}

/** Throws a UsageError naming `what`; the value is shown only when it cannot carry a password. */
export function urlError(raw: string, what: string, problem: string): UsageError {
  const shown = /@|password|secret/i.test(raw) ? '' : ` ${quote(raw)}`;
  return new UsageError(`${what}${shown} ${problem}`);
}

/** Characters no URL of ours may hold as typed: controls, spaces, bidi, invisible characters, backslashes. */
function rawProblem(raw: string): string | null {
  if (raw.length > 2048) return `is ${raw.length} characters long; at most 2048 are allowed`;
  if (CONTROL.test(raw) || SEPARATOR.test(raw)) return 'contains control characters';
  if (BIDI.test(raw) || INVISIBLE.test(raw) || HIDDEN.test(raw) || LONE_SURROGATE.test(raw)) return 'contains invisible or direction-changing characters';
  if (WHITESPACE.test(raw)) return 'contains spaces; percent-encode them as %20';
  if (raw.includes('\\')) return 'contains a backslash (URL parsers disagree on what it means)';
  return null;
}

/** Split scheme://userinfo@host:port/rest by hand, so each part gets its own message. */
function authority(raw: string): Authority | string {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)(.*)$/.exec(raw);
  if (!m) return 'is not a URL of the form scheme://host';
  const at = m[2]!.lastIndexOf('@');
  const userinfo = at >= 0 ? m[2]!.slice(0, at) : null;
  const hostPort = m[2]!.slice(at + 1);
  const hp = /^(\[[^\]]*\]?|[^:[\]]*)(?::(.*))?$/.exec(hostPort);
  if (!hp) return hostPort.includes('[') ? 'has an unclosed [ ] around an IPv6 address' : 'has a malformed host:port';
  return { scheme: m[1]!.toLowerCase(), userinfo, host: hp[1]!, port: hp[2] ?? null, rest: m[3]! };
}

/** Percent-decoding that reports malformed escapes and escaped controls instead of passing them on. */
function decodedProblem(part: string, name: string): string | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(part);
  } catch {
    return `has a malformed %-escape in the ${name}`;
  }
  return CONTROL.test(decoded) || BIDI.test(decoded) || SEPARATOR.test(decoded) ? `has an escaped control or bidi character in the ${name}` : null;
}

/** The checks every URL gets; returns the split parts and the WHATWG parse of the same text. */
export function checkUrl(raw: string, schemes: string[], options: { hostRequired: boolean; userinfo: boolean }): { parts: Authority; url: URL } | string {
  const bad = rawProblem(raw);
  if (bad) return bad;
  const parts = authority(raw);
  if (typeof parts === 'string') return parts;
  if (!schemes.includes(parts.scheme)) return `must start with ${schemes.map((s) => `${s}://`).join(' or ')}`;
  if (parts.userinfo !== null) {
    if (!options.userinfo) return 'must not contain a user name or password (nothing before an @)';
    const p = decodedProblem(parts.userinfo, 'user name or password');
    if (p) return p;
  }
  if (parts.host === '') {
    if (options.hostRequired || parts.port !== null) return 'has no host name';
  } else if (/^%2f/i.test(parts.host)) {
    const p = decodedProblem(parts.host, 'socket folder');
    if (p) return p;
  } else {
    const h = urlHost(parts.host);
    if (!h.ok) return `host ${JSON.stringify(parts.host)} ${h.reason}`;
  }
  if (parts.port !== null) {
    const p = portProblem(parts.port);
    if (p) return p;
  }
  const p = decodedProblem(parts.rest.split('#')[0]!, 'path or query');
  if (p) return p;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'is not a valid URL';
  }
  return { parts, url };
}

/**
 * HMIS_SITE_URL → its normalised form (lowercase punycode host, default port dropped, no trailing
 * slash). Links are built from this value only. Refused: credentials, query, fragment, anything
 * but http(s), and every character a parser could read two ways.
 */
export function parseSiteUrl(raw: string, what: string): string {
  const fix = 'give the bare site address, e.g. https://hmis.example.org';
  const checked = checkUrl(raw.trim(), ['https', 'http'], { hostRequired: true, userinfo: false });
  if (typeof checked === 'string') throw urlError(raw, what, `${checked}; ${fix}`);
  const { url, parts } = checked;
  if (parts.rest.includes('?') || parts.rest.includes('#')) throw urlError(raw, what, `must not have a query (?) or fragment (#); ${fix}`);
  // An escaped backslash is still one to the parsers that read it as a path separator.
  if (/%5c/i.test(parts.rest)) throw urlError(raw, what, `has an escaped backslash (%5C) in its path; ${fix}`);
  if (/(^|\/)(\.|%2e){1,2}(\/|$)/i.test(parts.rest)) throw urlError(raw, what, `has . or .. in its path; ${fix}`);
  const path = url.pathname.replace(/\/+$/, '');
  if (!/^(\/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)*$/.test(path) || /\/\.\.?(\/|$)/.test(path)) {
    throw urlError(raw, what, `has a path that is not a plain folder; ${fix}`);
  }
  return `${url.protocol}//${url.host}${path}`;
}

/**
 * HMIS_SMTP_URL → its normalised form (the WHATWG serialisation nodemailer reads the same way):
 * smtp:// or smtps://, a host, a port from 1 to 65535, credentials percent-encoded.
 */
export function parseSmtpUrl(raw: string, what: string): string {
  const fix = 'e.g. smtps://user:pass@relay.example.org:465';
  const checked = checkUrl(raw.trim(), ['smtp', 'smtps'], { hostRequired: true, userinfo: true });
  if (typeof checked === 'string') throw urlError(raw, what, `${checked}; ${fix}`);
  const { url, parts } = checked;
  if (parts.rest.includes('#')) throw urlError(raw, what, `must not have a fragment (#); ${fix}`);
  if (url.pathname !== '' && url.pathname !== '/') throw urlError(raw, what, `must not have a path (the relay is a host and a port); ${fix}`);
  // nodemailer would drop or half-read parameters (?secure=, ?tls=): none are taken, so none is silently lost.
  if (parts.rest.includes('?')) throw urlError(raw, what, `has a query parameter (?…); none are taken: smtps:// means TLS from the start, smtp:// upgrades with STARTTLS; ${fix}`);
  return url.href;
}
