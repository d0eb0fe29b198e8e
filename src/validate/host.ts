/** Host names, IP literals, ports and DNS labels, as URLs, DKIM settings and `--dns-server` carry them. */
import { isIP, isIPv4, isIPv6 } from 'node:net';
import { domainToASCII } from 'node:url';
import { UsageError } from '../errors.js';
import { quote } from './quote.js';

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
// Container and intranet names (docker compose's hmis_db) carry underscores; resolvers accept them in hosts.
const HOST_LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;

/** A DNS name as lowercase ASCII (punycode for IDN), or why it is not one. */
export function dnsName(name: string, options: { dot?: boolean; underscore?: boolean } = {}): { ok: true; name: string } | { ok: false; reason: string } {
  const fail = (reason: string) => ({ ok: false as const, reason });
  if (name === '') return fail('has no host name');
  if (/[\s\\/@:?#[\]%<>"'`^{}|,;=*!$&()+~]/.test(name) || /[\u0000-\u001f\u007f-\u009f]/.test(name)) {
    return fail('has characters that are not allowed in a host name (letters, digits, hyphens and dots only)');
  }
  if (name.startsWith('.') || name.includes('..')) return fail('has an empty label (a leading dot or two dots in a row)');
  const bare = name.endsWith('.') ? name.slice(0, -1) : name;
  const ascii = domainToASCII(bare).toLowerCase();
  if (ascii === '' || ascii.split('.').length !== bare.split('.').length) return fail('is not a valid (internationalised) host name');
  const typed = bare.split('.');
  const labels = ascii.split('.');
  for (let i = 0; i < labels.length; i++) {
    // A non-ASCII label that maps to plain ASCII (full-width letters) imitates another name.
    if (/[^\x00-\x7f]/.test(typed[i]!) && !labels[i]!.startsWith('xn--')) return fail('has look-alike (full-width or compatibility) characters');
    if (!(options.underscore ? HOST_LABEL : LABEL).test(labels[i]!)) return fail(`has an invalid label ${JSON.stringify(labels[i])} (letters, digits and inner hyphens, at most 63)`);
  }
  if (ascii.length > 253) return fail('is longer than 253 characters');
  if (options.dot && labels.length < 2) return fail('has no dot (give the full domain, e.g. example.org)');
  // URL hosts take IPv4 addresses before they get here (urlHost); a DNS name never ends in a number.
  if (/^\d+$/.test(labels[labels.length - 1]!)) return fail('is an IP address or has a numeric top-level label; give a domain name');
  return { ok: true, name: ascii };
}

/** The host part of a URL authority: a DNS name, an IPv4 address or a bracketed IPv6 address. */
export function urlHost(host: string): { ok: true; host: string } | { ok: false; reason: string } {
  if (host.startsWith('[') || host.endsWith(']')) {
    if (!host.startsWith('[') || !host.endsWith(']')) return { ok: false, reason: 'has an unclosed [ ] around an IPv6 address' };
    return isIPv6(host.slice(1, -1)) ? { ok: true, host: host.toLowerCase() } : { ok: false, reason: 'has an invalid IPv6 address in [ ]' };
  }
  if (isIPv4(host)) return { ok: true, host };
  const d = dnsName(host, { underscore: true });
  return d.ok ? { ok: true, host: d.name } : d;
}

/** A TCP port: 1 to 65535, digits only. */
export function portProblem(port: string): string | null {
  if (!/^\d{1,5}$/.test(port)) return `has the port ${JSON.stringify(port)}, which is not a number`;
  const n = Number(port);
  return n >= 1 && n <= 65535 ? null : `has the port ${n}, outside 1 to 65535`;
}

/** A DKIM selector: one or more DNS labels (RFC 6376 §3.1), so it cannot walk out of `_domainkey`. */
export function selectorProblem(selector: string): string | null {
  if (selector.length > 63 * 2) return 'is too long';
  const labels = selector.toLowerCase().split('.');
  return labels.every((l) => LABEL.test(l)) ? null : 'must be one or more DNS labels of letters, digits and inner hyphens (e.g. s1 or hmis.2026)';
}

/** "127.0.0.1:5353", "[::1]:53" or "9.9.9.9" → a resolver address node:dns accepts (--dns-server, HMIS_DNS_SERVER). */
export function parseDnsServer(value: string, what: string): string {
  const v = value.trim();
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(v) ?? /^([^:]+):(\d{1,5})$/.exec(v);
  const host = m ? m[1]! : v.replace(/^\[(.*)\]$/, '$1');
  const port = m ? Number(m[2]) : 53;
  if (!isIP(host) || port < 1 || port > 65535) {
    throw new UsageError(`${what} ${quote(value)} is not a resolver address; give an IP address and optional port, e.g. 127.0.0.1:5353`);
  }
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}
