/** The one validated configuration: flags > environment > .env in the working directory > defaults. */
import { existsSync, readFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { parseEnv } from 'node:util';
import { UsageError } from './errors.js';
import { parseCount, quote } from './parse.js';
import { parseSender } from './validate/address.js';
import { checkPgEnv, databaseTarget, parseDatabaseUrl } from './validate/database-url.js';
import { parseDnsServer } from './validate/host.js';
import { unsafeCharacters } from './validate/chars.js';
import { checkDataDir, readDkimKey, readSecretFile } from './validate/paths.js';
import {
  activeFlag, actorName, agreementTerm, boundedDuration, columnName, deviseSecret, dkimDomain, dkimSelector, keyDigest, linkPath, pathText,
  reminderDays, schemaName, unlockAfter,
} from './validate/settings.js';
import { parseSiteUrl, parseSmtpUrl } from './validate/urls.js';

export type OutputFormat = 'table' | 'json' | 'csv';

export interface Config {
  /** PostgreSQL URL, or null for the embedded PGlite database (or PG* variables: see databaseSource). */
  databaseUrl: string | null;
  databaseSource: 'flag' | 'env' | 'pg-env' | 'embedded';
  dataDir: string;
  /** The normalised HMIS_SITE_URL (validate/urls.ts): every link is built from this value only. */
  siteUrl: string | null;
  resetPath: string;
  verifyPath: string;
  smtpUrl: string | null;
  /** The From header: the address, or `Display Name <address>`. */
  mailFrom: string | null;
  /** The bare sender address (for its domain: Message-IDs, `mail doctor`). */
  mailFromAddress: string | null;
  dkim: { domain: string; selector: string; keyFile: string } | null;
  /** The resolver `mail doctor` asks (HMIS_DNS_SERVER), normalised to ip:port. */
  dnsServer: string | null;
  /** Whose tables hold the accounts (HMIS_SCHEMA). */
  schema: 'native' | 'devise';
  /** The Devise application's settings (HMIS_DEVISE_*, HMIS_UNLOCK_AFTER); used in devise mode only. */
  devise: DeviseConfig;
  lockoutThreshold: number;
  resetTtlMs: number;
  agreementTermMs: number;
  reminderDays: number[];
  actor: string;
  format: OutputFormat;
  color: boolean;
  quiet: boolean;
}

export interface DeviseConfig {
  /** secret_key_base, from HMIS_DEVISE_SECRET_FILE or HMIS_DEVISE_SECRET; null when neither is set. Never shown. */
  secret: string | null;
  keyDigest: 'sha1' | 'sha256';
  login: string;
  active: { column: string; inverted: boolean } | null;
  unlockAfterMs: number | null;
}

/** Global flags as commander hands them over. */
export interface GlobalFlags {
  db?: string;
  json?: boolean;
  format?: string;
  actor?: string;
  color?: boolean;
  quiet?: boolean;
}

/** What kind of value a variable holds (its description), so tests can generate hostile ones for it. */
export type VariableKind =
  | 'database-url' | 'path' | 'site-url' | 'link-path' | 'smtp-url' | 'sender' | 'domain' | 'selector' | 'dns-server'
  | 'count' | 'duration' | 'days' | 'actor' | 'schema' | 'column' | 'active-flag' | 'unlock-after' | 'key-digest' | 'secret';

/** One variable: its kind, and the check that turns its raw text into a value (undefined: not set). */
interface Variable<T> {
  description: VariableKind;
  parse(raw: string | undefined): T;
}

/**
 * A variable checked by one of the shared validators (src/validate/): the same function a flag of the
 * same kind goes through. Unset or blank is "not set"; a refusal is a complete one-line message
 * (a UsageError). Plain functions, no schema library: this runs before every command.
 */
function field<T>(key: string, kind: VariableKind, check: (value: string, what: string) => T): Variable<T | undefined> {
  return {
    description: kind,
    parse: (v) => {
      if (v === undefined || v.trim() === '') return undefined;
      const value = check(v, key);
      // Controls and bidi characters are refused anywhere, even where trimming would hide them.
      const unsafe = unsafeCharacters(v);
      // A credential is never shown, not even to say what is wrong with it.
      if (unsafe) throw new UsageError(`${key} ${kind === 'secret' ? '(not shown)' : quote(v)} ${unsafe}; set it again as plain text`);
      return value;
    },
  };
}

const withDefault = <T>(key: string, kind: VariableKind, fallback: string, check: (value: string, what: string) => T): Variable<T> => {
  const f = field(key, kind, check);
  return {
    description: kind,
    parse: (v) => {
      const value = f.parse(v); // null is a value (e.g. HMIS_UNLOCK_AFTER=never): only "not set" takes the default
      return value === undefined ? check(fallback, key) : value;
    },
  };
};

/** Every variable the tool reads, with the validator of its kind (the property tests walk this list). */
export const CONFIG_VARIABLES = {
  HMIS_DATABASE_URL: field('HMIS_DATABASE_URL', 'database-url', parseDatabaseUrl),
  HMIS_DATA_DIR: field('HMIS_DATA_DIR', 'path', pathText),
  HMIS_SITE_URL: field('HMIS_SITE_URL', 'site-url', parseSiteUrl),
  HMIS_SCHEMA: withDefault('HMIS_SCHEMA', 'schema', 'native', schemaName),
  // Defaults of the paths, the link lifetime and the lockout threshold depend on HMIS_SCHEMA (see HOST_DEFAULTS).
  HMIS_RESET_PATH: field('HMIS_RESET_PATH', 'link-path', linkPath),
  HMIS_VERIFY_PATH: field('HMIS_VERIFY_PATH', 'link-path', linkPath),
  HMIS_SMTP_URL: field('HMIS_SMTP_URL', 'smtp-url', parseSmtpUrl),
  HMIS_MAIL_FROM: field('HMIS_MAIL_FROM', 'sender', parseSender),
  HMIS_DKIM_DOMAIN: field('HMIS_DKIM_DOMAIN', 'domain', dkimDomain),
  HMIS_DKIM_SELECTOR: field('HMIS_DKIM_SELECTOR', 'selector', dkimSelector),
  HMIS_DKIM_KEY_FILE: field('HMIS_DKIM_KEY_FILE', 'path', pathText),
  HMIS_DNS_SERVER: field('HMIS_DNS_SERVER', 'dns-server', parseDnsServer),
  HMIS_LOCKOUT_THRESHOLD: field('HMIS_LOCKOUT_THRESHOLD', 'count', (v, what) => parseCount(v, what, 1, 100)),
  HMIS_RESET_TTL: field('HMIS_RESET_TTL', 'duration', resetTtl),
  HMIS_AGREEMENT_TERM: withDefault('HMIS_AGREEMENT_TERM', 'duration', '365d', agreementTerm),
  HMIS_REMINDER_DAYS: withDefault('HMIS_REMINDER_DAYS', 'days', '30,14,7,1', reminderDays),
  HMIS_ACTOR: field('HMIS_ACTOR', 'actor', actorName),
  HMIS_DEVISE_SECRET: field('HMIS_DEVISE_SECRET', 'secret', deviseSecret),
  HMIS_DEVISE_SECRET_FILE: field('HMIS_DEVISE_SECRET_FILE', 'path', pathText),
  HMIS_DEVISE_KEY_DIGEST: withDefault('HMIS_DEVISE_KEY_DIGEST', 'key-digest', 'sha1', keyDigest),
  HMIS_DEVISE_LOGIN: withDefault('HMIS_DEVISE_LOGIN', 'column', 'email', columnName),
  HMIS_DEVISE_ACTIVE: withDefault('HMIS_DEVISE_ACTIVE', 'active-flag', 'active', activeFlag),
  HMIS_UNLOCK_AFTER: withDefault('HMIS_UNLOCK_AFTER', 'unlock-after', '1h', unlockAfter),
};

function resetTtl(value: string, what: string): number {
  return boundedDuration(5 * 60_000, 7 * 86_400_000, 'must be between 5m and 7d (short links are safer)')(value, what);
}

/**
 * Defaults that follow the host: hmis-admin's own tables, or what a Devise application does out of the box
 * (Devise's routes, `reset_password_within` 6h, OpenPath's `maximum_attempts` 20).
 */
const HOST_DEFAULTS = {
  native: { resetPath: '/password/reset', verifyPath: '/email/confirm', resetTtl: '60m', threshold: '3' },
  devise: { resetPath: '/users/password/edit', verifyPath: '/users/confirmation', resetTtl: '6h', threshold: '20' },
} as const;

type Parsed = { [K in keyof typeof CONFIG_VARIABLES]: ReturnType<(typeof CONFIG_VARIABLES)[K]['parse']> };

/**
 * Every variable checked in order (the first refusal is the message), then the rules that span several.
 * `fromFlag`: variables given by a flag, named by the flag in messages.
 */
function parseVariables(merged: Record<string, string | undefined>, fromFlag: Set<string>): Parsed {
  const c = {} as Record<string, unknown>;
  for (const [key, variable] of Object.entries(CONFIG_VARIABLES)) {
    try {
      c[key] = variable.parse(merged[key]);
    } catch (err) {
      if (err instanceof UsageError && fromFlag.has(key)) throw new UsageError(err.message.replace(key, FLAG_OF[key]!));
      throw err;
    }
  }
  const p = c as Parsed;
  if (p.HMIS_SMTP_URL && !p.HMIS_MAIL_FROM) {
    throw new UsageError('HMIS_MAIL_FROM is required when HMIS_SMTP_URL is set, e.g. HMIS_MAIL_FROM="HMIS Support <no-reply@hmis.example.org>"');
  }
  const dkim = [p.HMIS_DKIM_DOMAIN, p.HMIS_DKIM_SELECTOR, p.HMIS_DKIM_KEY_FILE].filter(Boolean).length;
  if (dkim !== 0 && dkim !== 3) {
    throw new UsageError('HMIS_DKIM_KEY_FILE: DKIM needs all three of HMIS_DKIM_DOMAIN, HMIS_DKIM_SELECTOR and HMIS_DKIM_KEY_FILE');
  }
  return p;
}

/** Read KEY=value pairs from .env in `cwd`, if there is one. */
function readDotEnv(cwd: string): Record<string, string> {
  const file = join(cwd, '.env');
  if (!existsSync(file)) return {};
  try {
    // Editors on Windows start a UTF-8 file with a byte-order mark; left in, it hides the first variable's name.
    return parseEnv(readFileSync(file, 'utf8').replace(/^\ufeff/, '')) as Record<string, string>;
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as Error).message}; fix or remove the file`);
  }
}

function defaultActor(env: Record<string, string | undefined>): string {
  try {
    return userInfo().username;
  } catch {
    return env.USER ?? env.LOGNAME ?? 'unknown';
  }
}

/** The flag a variable came from, for messages: --db and --actor override their variables. */
const FLAG_OF: Record<string, string> = { HMIS_DATABASE_URL: '--db', HMIS_ACTOR: '--actor' };

/** Build and validate the configuration once, at start. Throws UsageError (exit 2) naming the bad variable. */
export function loadConfig(
  flags: GlobalFlags = {},
  env: Record<string, string | undefined> = process.env,
  cwd: string = process.cwd(),
  isTTY: boolean = Boolean(process.stdout.isTTY),
): Config {
  const merged: Record<string, string | undefined> = { ...readDotEnv(cwd), ...definedOnly(env) };
  const fromFlag = new Set<string>();
  for (const [key, value] of [['HMIS_DATABASE_URL', flags.db], ['HMIS_ACTOR', flags.actor]] as const) {
    if (value === undefined) continue;
    if (value.trim() === '') throw new UsageError(`${FLAG_OF[key]} is empty; give a value or leave the option out`);
    merged[key] = value;
    fromFlag.add(key);
  }

  // Messages name the variable; a value that came from a flag is named by the flag.
  const c = parseVariables(merged, fromFlag);

  const format = parseFormat(flags);
  // pg reads these for whatever a URL leaves out, so they are checked whether or not a URL is given.
  checkPgEnv(merged);
  const pgEnv = Boolean(merged.PGHOST || merged.PGDATABASE);
  const dataHome = merged.XDG_DATA_HOME || join(merged.HOME || homedir(), '.local', 'share');
  const dataDir = resolve(cwd, c.HMIS_DATA_DIR ?? join(dataHome, 'hmis-admin'));
  const databaseSource: Config['databaseSource'] = c.HMIS_DATABASE_URL ? (fromFlag.has('HMIS_DATABASE_URL') ? 'flag' : 'env') : pgEnv ? 'pg-env' : 'embedded';
  // Checked where it will be used (the embedded database, or the .eml folder without a relay), so a
  // server-and-relay setup never trips over a HOME it does not need.
  if (databaseSource === 'embedded' || !c.HMIS_SMTP_URL) {
    checkDataDir(dataDir, c.HMIS_DATA_DIR ? 'HMIS_DATA_DIR' : 'the data folder (HMIS_DATA_DIR, default $XDG_DATA_HOME/hmis-admin)');
  }
  // The login name is checked like --actor: the audit trail stores it.
  const actor = c.HMIS_ACTOR ?? actorName(defaultActor(merged), 'your login name (set --actor or HMIS_ACTOR instead)');
  let dkim: Config['dkim'] = null;
  if (c.HMIS_DKIM_DOMAIN) {
    dkim = { domain: c.HMIS_DKIM_DOMAIN, selector: c.HMIS_DKIM_SELECTOR!, keyFile: resolve(cwd, c.HMIS_DKIM_KEY_FILE!) };
    readDkimKey(dkim.keyFile, 'HMIS_DKIM_KEY_FILE'); // every DKIM setting is checked before any command writes
  }

  const schema = c.HMIS_SCHEMA;
  const host = HOST_DEFAULTS[schema];
  if (c.HMIS_DEVISE_SECRET && c.HMIS_DEVISE_SECRET_FILE) {
    throw new UsageError('HMIS_DEVISE_SECRET and HMIS_DEVISE_SECRET_FILE are both set; keep only HMIS_DEVISE_SECRET_FILE (a file only you can read)');
  }
  const secret = c.HMIS_DEVISE_SECRET_FILE
    ? deviseSecret(readSecretFile(resolve(cwd, c.HMIS_DEVISE_SECRET_FILE), 'HMIS_DEVISE_SECRET_FILE'), 'the secret in HMIS_DEVISE_SECRET_FILE')
    : (c.HMIS_DEVISE_SECRET ?? null);

  return {
    databaseUrl: c.HMIS_DATABASE_URL ?? null,
    databaseSource,
    dataDir,
    siteUrl: c.HMIS_SITE_URL ?? null,
    resetPath: c.HMIS_RESET_PATH ?? host.resetPath,
    verifyPath: c.HMIS_VERIFY_PATH ?? host.verifyPath,
    smtpUrl: c.HMIS_SMTP_URL ?? null,
    mailFrom: c.HMIS_MAIL_FROM?.header ?? null,
    mailFromAddress: c.HMIS_MAIL_FROM?.address ?? null,
    dkim,
    dnsServer: c.HMIS_DNS_SERVER ?? null,
    schema,
    devise: { secret, keyDigest: c.HMIS_DEVISE_KEY_DIGEST, login: c.HMIS_DEVISE_LOGIN, active: c.HMIS_DEVISE_ACTIVE, unlockAfterMs: c.HMIS_UNLOCK_AFTER },
    lockoutThreshold: c.HMIS_LOCKOUT_THRESHOLD ?? parseCount(host.threshold, 'HMIS_LOCKOUT_THRESHOLD', 1, 100),
    resetTtlMs: c.HMIS_RESET_TTL ?? resetTtl(host.resetTtl, 'HMIS_RESET_TTL'),
    agreementTermMs: c.HMIS_AGREEMENT_TERM,
    reminderDays: c.HMIS_REMINDER_DAYS,
    actor,
    format,
    // NO_COLOR (https://no-color.org), FORCE_COLOR=0 (chalk's and Node's "no colour") and TERM=dumb all mean plain text.
    color: isTTY && flags.color !== false && merged.NO_COLOR === undefined && !['0', 'false'].includes(merged.FORCE_COLOR ?? '') && merged.TERM !== 'dumb',
    quiet: Boolean(flags.quiet),
  };
}

function parseFormat(flags: GlobalFlags): OutputFormat {
  if (flags.json) {
    if (flags.format && flags.format !== 'json') throw new UsageError(`--json contradicts --format ${quote(flags.format)}; give one of them`);
    return 'json';
  }
  const f = flags.format ?? 'table';
  if (f !== 'table' && f !== 'json' && f !== 'csv') throw new UsageError(`--format ${quote(f)} is not a format; use table, json or csv`);
  return f;
}

/** The environment's set variables: an empty one counts as unset, so it never hides a value in .env. */
function definedOnly(env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== '') out[k] = v;
  return out;
}

/** Where the database lives, for messages: host:port of a server, or the embedded folder. */
export function describeDatabase(config: Config): string {
  if (config.databaseUrl) {
    try {
      // Host, port and database name as pg will use them (a ?host=/?port= parameter, else the URL's, else
      // PGHOST/PGPORT/PGDATABASE, which pg reads for what the URL leaves out); never the user or password.
      const t = databaseTarget(config.databaseUrl, 0);
      return `${t.host}:${t.port}${t.database ? `/${t.database}` : ''}`;
    } catch {
      return 'the configured server';
    }
  }
  if (config.databaseSource === 'pg-env') {
    const name = process.env.PGDATABASE;
    return `${process.env.PGHOST ?? 'localhost'}:${process.env.PGPORT ?? '5432'}${name ? `/${name}` : ''}`;
  }
  return `the embedded database in ${join(config.dataDir, 'pgdata')}`;
}

/** Whether describeDatabase named the embedded database (not a server). */
export function isEmbeddedDescription(where: string): boolean {
  return where.startsWith('the embedded database in ');
}
