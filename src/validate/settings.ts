/** The rules of the single-purpose settings (link paths, TTLs, reminder stages, DKIM names, the actor). */
import { UsageError } from '../errors.js';
import { DAY_MS } from '../services/accounts/days.js';
import { dnsName, selectorProblem } from './host.js';
import { quote } from './quote.js';
import { checkText, TEXT_LIMITS } from './text.js';
import { parseDuration } from './time.js';

/** A link path on the site: plain segments only, so it cannot step to another host or folder. */
export function linkPath(value: string, what: string): string {
  const v = value.trim();
  if (!/^(\/[A-Za-z0-9._~-]+)+\/?$/.test(v) || /\/\.\.?(\/|$)/.test(v) || v.length > 200) {
    throw new UsageError(`${what} ${quote(value)} must be a path of plain segments starting with /, e.g. /password/reset`);
  }
  return v;
}

/** A duration within [min, max] ms, e.g. HMIS_RESET_TTL. */
export function boundedDuration(min: number, max: number, message: string) {
  return (value: string, what: string): number => {
    const ms = parseDuration(value, what);
    if (ms < min || ms > max) throw new UsageError(`${what} ${quote(value)} ${message}`);
    return ms;
  };
}

/** HMIS_AGREEMENT_TERM: whole days. */
export function agreementTerm(value: string, what: string): number {
  const ms = parseDuration(value, what);
  if (ms < DAY_MS || ms % DAY_MS !== 0) throw new UsageError(`${what} ${quote(value)} must be a whole number of days or weeks, e.g. 365d`);
  return ms;
}

/** HMIS_REMINDER_DAYS: distinct stages from 1 to 365 days, largest first. */
export function reminderDays(value: string, what: string): number[] {
  if (!/^\s*\d{1,3}(\s*,\s*\d{1,3})*\s*$/.test(value)) throw new UsageError(`${what} ${quote(value)} must be a comma-separated list of days, e.g. 30,14,7,1`);
  const days = [...new Set(value.split(',').map((d) => Number(d.trim())))].sort((a, b) => b - a);
  if (!days.every((d) => d >= 1 && d <= 365)) throw new UsageError(`${what} ${quote(value)}: each stage must be from 1 to 365 days`);
  return days;
}

/** HMIS_DKIM_DOMAIN: a full DNS name, lowercase ASCII. */
export function dkimDomain(value: string, what: string): string {
  const d = dnsName(value.trim(), { dot: true });
  if (!d.ok) throw new UsageError(`${what} ${quote(value)} ${d.reason}; give the signing domain, e.g. hmis.example.org`);
  return d.name;
}

/** HMIS_DKIM_SELECTOR: DNS labels only, so it cannot leave _domainkey or break the header. */
export function dkimSelector(value: string, what: string): string {
  const problem = selectorProblem(value.trim());
  if (problem) throw new UsageError(`${what} ${quote(value)} ${problem}`);
  return value.trim().toLowerCase();
}

/** --actor and HMIS_ACTOR: a name the audit trail stores. */
export const actorName = (value: string, what: string): string =>
  checkText(value, what, { max: TEXT_LIMITS.actor, kind: 'name', example: 'give a plain name, e.g. --actor jsmith' });
/** A file or folder as typed: no surrounding spaces (they are almost always a quoting slip). */
export const pathText = (value: string, what: string): string => {
  if (value.trim() !== value) throw new UsageError(`${what} ${quote(value)} starts or ends with spaces; give the folder without them`);
  return value;
};


/** HMIS_SCHEMA: whose tables hold the accounts. */
export function schemaName(value: string, what: string): 'native' | 'devise' {
  const v = value.trim().toLowerCase();
  if (v !== 'native' && v !== 'devise') throw new UsageError(`${what} ${quote(value)} is not a host schema; use native (hmis-admin's own tables) or devise (a Rails Devise users table)`);
  return v;
}

/** A column of the host's users table (HMIS_DEVISE_LOGIN): a plain SQL identifier. */
export function columnName(value: string, what: string): string {
  const v = value.trim();
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(v)) throw new UsageError(`${what} ${quote(value)} is not a column name; give the users column people sign in with, e.g. email or user_name`);
  return v;
}

/** HMIS_DEVISE_ACTIVE: `active` (true may sign in), `!disabled` (true may not), or `none`. */
export function activeFlag(value: string, what: string): { column: string; inverted: boolean } | null {
  const v = value.trim();
  if (v === 'none') return null;
  const inverted = v.startsWith('!');
  const column = inverted ? v.slice(1) : v;
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(column)) {
    throw new UsageError(`${what} ${quote(value)} is not an active flag; give the boolean column (active, as in OpenPath), !column when true means locked (!disabled, as in Primero), or none`);
  }
  return { column, inverted };
}

/** HMIS_UNLOCK_AFTER: Devise's unlock_in, or `never` when only an administrator (or mail) unlocks. */
export function unlockAfter(value: string, what: string): number | null {
  if (value.trim().toLowerCase() === 'never') return null;
  const ms = parseDuration(value, what);
  if (ms < 60_000) throw new UsageError(`${what} ${quote(value)} must be at least 1m, or never`);
  return ms;
}

/** HMIS_DEVISE_KEY_DIGEST: the hash of the application's key generator. */
export function keyDigest(value: string, what: string): 'sha1' | 'sha256' {
  const v = value.trim().toLowerCase();
  if (v !== 'sha1' && v !== 'sha256') throw new UsageError(`${what} ${quote(value)} is not a key digest; use sha1 (Rails' default) or sha256`);
  return v;
}

/** HMIS_DEVISE_SECRET: the application's secret_key_base. A credential: never shown in any message. */
export function deviseSecret(value: string, what: string): string {
  const v = value.trim();
  if (/[\u0000-\u001f\u007f-\u009f]/.test(v)) throw new UsageError(`${what} contains control characters (not shown); copy secret_key_base again`);
  if (v.length < 30) throw new UsageError(`${what} is ${v.length} characters long (not shown); secret_key_base is far longer: copy all of it`);
  if (v.length > 1024) throw new UsageError(`${what} is ${v.length} characters long (not shown); secret_key_base is 128 hexadecimal characters: copy only it`);
  if (!/^[\x21-\x7e]+$/.test(v)) throw new UsageError(`${what} holds spaces or characters outside printable ASCII (not shown); copy secret_key_base again`);
  return v;
}
