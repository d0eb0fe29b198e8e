/** The one validated configuration: flags > environment > .env in the working directory > defaults. */
import { existsSync, readFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { parseEnv } from 'node:util';
import { z } from 'zod';
import { UsageError } from './errors.js';
import { parseCount, quote } from './parse.js';
import { parseSender } from './validate/address.js';
import { parseDatabaseUrl } from './validate/database-url.js';
import { parseDnsServer } from './validate/host.js';
import { unsafeCharacters } from './validate/chars.js';
import { checkDataDir, readDkimKey } from './validate/paths.js';
import { actorName, agreementTerm, boundedDuration, dkimDomain, dkimSelector, linkPath, pathText, reminderDays } from './validate/settings.js';
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
  lockoutThreshold: number;
  resetTtlMs: number;
  agreementTermMs: number;
  reminderDays: number[];
  actor: string;
  format: OutputFormat;
  color: boolean;
  quiet: boolean;
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

/** What kind of value a variable holds (its zod description), so tests can generate hostile ones for it. */
export type VariableKind =
  | 'database-url' | 'path' | 'site-url' | 'link-path' | 'smtp-url' | 'sender' | 'domain' | 'selector' | 'dns-server'
  | 'count' | 'duration' | 'days' | 'actor';

/**
 * A variable checked by one of the shared validators (src/validate/): the same function a flag of the
 * same kind goes through. Unset or blank is "not set"; a refusal is a complete one-line message.
 */
function field<T>(key: string, kind: VariableKind, check: (value: string, what: string) => T) {
  return z
    .string()
    .optional()
    .transform((v, ctx): T | undefined => {
      if (v === undefined || v.trim() === '') return undefined;
      try {
        const value = check(v, key);
        // Controls and bidi characters are refused anywhere, even where trimming would hide them.
        const unsafe = unsafeCharacters(v);
        if (unsafe) throw new UsageError(`${key} ${quote(v)} ${unsafe}; set it again as plain text`);
        return value;
      } catch (err) {
        if (!(err instanceof UsageError)) throw err;
        ctx.addIssue({ code: 'custom', message: err.message });
        return z.NEVER;
      }
    })
    .describe(kind);
}

const withDefault = <T>(key: string, kind: VariableKind, fallback: string, check: (value: string, what: string) => T) =>
  field(key, kind, check)
    .transform((v) => v ?? check(fallback, key))
    .describe(kind);

/** Every variable the tool reads, with the validator of its kind (the property tests walk this list). */
export const CONFIG_VARIABLES = {
  HMIS_DATABASE_URL: field('HMIS_DATABASE_URL', 'database-url', parseDatabaseUrl),
  HMIS_DATA_DIR: field('HMIS_DATA_DIR', 'path', pathText),
  HMIS_SITE_URL: field('HMIS_SITE_URL', 'site-url', parseSiteUrl),
  HMIS_RESET_PATH: withDefault('HMIS_RESET_PATH', 'link-path', '/password/reset', linkPath),
  HMIS_VERIFY_PATH: withDefault('HMIS_VERIFY_PATH', 'link-path', '/email/confirm', linkPath),
  HMIS_SMTP_URL: field('HMIS_SMTP_URL', 'smtp-url', parseSmtpUrl),
  HMIS_MAIL_FROM: field('HMIS_MAIL_FROM', 'sender', parseSender),
  HMIS_DKIM_DOMAIN: field('HMIS_DKIM_DOMAIN', 'domain', dkimDomain),
  HMIS_DKIM_SELECTOR: field('HMIS_DKIM_SELECTOR', 'selector', dkimSelector),
  HMIS_DKIM_KEY_FILE: field('HMIS_DKIM_KEY_FILE', 'path', pathText),
  HMIS_DNS_SERVER: field('HMIS_DNS_SERVER', 'dns-server', parseDnsServer),
  HMIS_LOCKOUT_THRESHOLD: withDefault('HMIS_LOCKOUT_THRESHOLD', 'count', '3', (v, what) => parseCount(v, what, 1, 100)),
  HMIS_RESET_TTL: withDefault('HMIS_RESET_TTL', 'duration', '60m', boundedDuration(5 * 60_000, 7 * 86_400_000, 'must be between 5m and 7d (short links are safer)')),
  HMIS_AGREEMENT_TERM: withDefault('HMIS_AGREEMENT_TERM', 'duration', '365d', agreementTerm),
  HMIS_REMINDER_DAYS: withDefault('HMIS_REMINDER_DAYS', 'days', '30,14,7,1', reminderDays),
  HMIS_ACTOR: field('HMIS_ACTOR', 'actor', actorName),
};

const schema = z.object(CONFIG_VARIABLES).superRefine((c, ctx) => {
  if (c.HMIS_SMTP_URL && !c.HMIS_MAIL_FROM) {
    ctx.addIssue({ code: 'custom', message: 'HMIS_MAIL_FROM is required when HMIS_SMTP_URL is set, e.g. HMIS_MAIL_FROM="HMIS Support <no-reply@hmis.example.org>"' });
  }
  const dkim = [c.HMIS_DKIM_DOMAIN, c.HMIS_DKIM_SELECTOR, c.HMIS_DKIM_KEY_FILE].filter(Boolean).length;
  if (dkim !== 0 && dkim !== 3) {
    ctx.addIssue({ code: 'custom', message: 'HMIS_DKIM_KEY_FILE: DKIM needs all three of HMIS_DKIM_DOMAIN, HMIS_DKIM_SELECTOR and HMIS_DKIM_KEY_FILE' });
  }
});

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

  const parsed = schema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = String(issue.path[0] ?? '');
    // Messages name the variable; a value that came from a flag is named by the flag.
    throw new UsageError(fromFlag.has(key) ? issue.message.replace(key, FLAG_OF[key]!) : issue.message);
  }
  const c = parsed.data;

  const format = parseFormat(flags);
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

  return {
    databaseUrl: c.HMIS_DATABASE_URL ?? null,
    databaseSource,
    dataDir,
    siteUrl: c.HMIS_SITE_URL ?? null,
    resetPath: c.HMIS_RESET_PATH,
    verifyPath: c.HMIS_VERIFY_PATH,
    smtpUrl: c.HMIS_SMTP_URL ?? null,
    mailFrom: c.HMIS_MAIL_FROM?.header ?? null,
    mailFromAddress: c.HMIS_MAIL_FROM?.address ?? null,
    dkim,
    dnsServer: c.HMIS_DNS_SERVER ?? null,
    lockoutThreshold: c.HMIS_LOCKOUT_THRESHOLD,
    resetTtlMs: c.HMIS_RESET_TTL,
    agreementTermMs: c.HMIS_AGREEMENT_TERM,
    reminderDays: c.HMIS_REMINDER_DAYS,
    actor,
    format,
    color: isTTY && flags.color !== false && merged.NO_COLOR === undefined,
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

function definedOnly(env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}

/** Where the database lives, for messages: host:port of a server, or the embedded folder. */
export function describeDatabase(config: Config): string {
  if (config.databaseUrl) {
    try {
      const u = new URL(config.databaseUrl);
      // Host, port and database name, never the user or password (which may sit in the URL).
      const name = decodeURIComponent(u.pathname.replace(/^\//, ''));
      return `${decodeURIComponent(u.hostname) || 'localhost'}:${u.port || '5432'}${name ? `/${name}` : ''}`;
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
