/** The one validated configuration: flags > environment > .env in the working directory > defaults. */
import { existsSync, readFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { parseEnv } from 'node:util';
import { z } from 'zod';
import { UsageError } from './errors.js';
import { parseDuration, quote } from './parse.js';

export type OutputFormat = 'table' | 'json' | 'csv';

export interface Config {
  /** PostgreSQL URL, or null for the embedded PGlite database (or PG* variables: see databaseSource). */
  databaseUrl: string | null;
  databaseSource: 'flag' | 'env' | 'pg-env' | 'embedded';
  dataDir: string;
  siteUrl: string | null;
  resetPath: string;
  verifyPath: string;
  smtpUrl: string | null;
  mailFrom: string | null;
  dkim: { domain: string; selector: string; keyFile: string } | null;
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

const nonEmpty = z.string().trim().min(1);
const optional = z.string().trim().optional().transform((v) => (v ? v : undefined));

const postgresUrl = optional.refine((v) => v === undefined || /^postgres(ql)?:\/\/./.test(v), {
  message: 'must be a postgres:// or postgresql:// URL, e.g. postgres://user@host:5432/hmis',
});
const siteUrl = optional.refine(
  (v) => {
    if (v === undefined) return true;
    try {
      const u = new URL(v);
      return (u.protocol === 'https:' || u.protocol === 'http:') && !u.username && !u.password && !u.search && !u.hash;
    } catch {
      return false;
    }
  },
  { message: 'must be the bare site address, e.g. https://hmis.example.org (no user, query or fragment)' },
);
const linkPath = (fallback: string) =>
  optional
    .transform((v) => v ?? fallback)
    .refine((v) => /^\/[A-Za-z0-9._~\-/]*$/.test(v), { message: 'must be a path starting with /, e.g. /password/reset' });
const smtpUrl = optional.refine((v) => v === undefined || /^smtps?:\/\/[^/]/.test(v), {
  message: 'must be an smtp:// or smtps:// URL, e.g. smtps://user:pass@relay.example.org:465',
});
const duration = (fallback: string) =>
  optional.transform((v, ctx) => {
    try {
      return parseDuration(v ?? fallback, 'duration');
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be a duration such as 90m, 12h, 30d or 2w' });
      return z.NEVER;
    }
  });

const schema = z
  .object({
    HMIS_DATABASE_URL: postgresUrl,
    HMIS_DATA_DIR: optional,
    HMIS_SITE_URL: siteUrl,
    HMIS_RESET_PATH: linkPath('/password/reset'),
    HMIS_VERIFY_PATH: linkPath('/email/confirm'),
    HMIS_SMTP_URL: smtpUrl,
    HMIS_MAIL_FROM: optional.refine((v) => v === undefined || /^[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+$/.test(v), {
      message: 'must be a plain address such as hmis-noreply@example.org',
    }),
    HMIS_DKIM_DOMAIN: optional,
    HMIS_DKIM_SELECTOR: optional,
    HMIS_DKIM_KEY_FILE: optional,
    HMIS_LOCKOUT_THRESHOLD: optional
      .transform((v) => v ?? '3')
      .refine((v) => /^\d+$/.test(v) && Number(v) >= 1 && Number(v) <= 100, { message: 'must be a whole number from 1 to 100' })
      .transform(Number),
    HMIS_RESET_TTL: duration('60m').refine((ms) => ms >= 5 * 60_000 && ms <= 7 * 86_400_000, {
      message: 'must be between 5m and 7d (short links are safer)',
    }),
    HMIS_AGREEMENT_TERM: duration('365d').refine((ms) => ms >= 86_400_000 && ms % 86_400_000 === 0, {
      message: 'must be a whole number of days or weeks, e.g. 365d',
    }),
    HMIS_REMINDER_DAYS: optional
      .transform((v) => v ?? '30,14,7,1')
      .refine((v) => /^\s*\d{1,3}(\s*,\s*\d{1,3})*\s*$/.test(v), { message: 'must be a comma-separated list of days, e.g. 30,14,7,1' })
      .transform((v) => [...new Set(v.split(',').map((d) => Number(d.trim())))].sort((a, b) => b - a))
      .refine((days) => days.every((d) => d >= 1 && d <= 365), { message: 'each stage must be from 1 to 365 days' }),
    HMIS_ACTOR: optional,
  })
  .superRefine((c, ctx) => {
    if (c.HMIS_SMTP_URL && !c.HMIS_MAIL_FROM) {
      ctx.addIssue({ code: 'custom', path: ['HMIS_MAIL_FROM'], message: 'is required when HMIS_SMTP_URL is set, e.g. hmis-noreply@example.org' });
    }
    const dkim = [c.HMIS_DKIM_DOMAIN, c.HMIS_DKIM_SELECTOR, c.HMIS_DKIM_KEY_FILE].filter(Boolean).length;
    if (dkim !== 0 && dkim !== 3) {
      ctx.addIssue({ code: 'custom', path: ['HMIS_DKIM_KEY_FILE'], message: 'DKIM needs all three of HMIS_DKIM_DOMAIN, HMIS_DKIM_SELECTOR and HMIS_DKIM_KEY_FILE' });
    }
  });

/** Read KEY=value pairs from .env in `cwd`, if there is one. */
function readDotEnv(cwd: string): Record<string, string> {
  const file = join(cwd, '.env');
  if (!existsSync(file)) return {};
  try {
    return parseEnv(readFileSync(file, 'utf8')) as Record<string, string>;
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

/** Build and validate the configuration once, at start. Throws UsageError (exit 2) naming the bad variable. */
export function loadConfig(
  flags: GlobalFlags = {},
  env: Record<string, string | undefined> = process.env,
  cwd: string = process.cwd(),
  isTTY: boolean = Boolean(process.stdout.isTTY),
): Config {
  const merged: Record<string, string | undefined> = { ...readDotEnv(cwd), ...definedOnly(env) };
  const fromFlag = new Set<string>();
  if (flags.db !== undefined) (merged.HMIS_DATABASE_URL = flags.db), fromFlag.add('HMIS_DATABASE_URL');
  if (flags.actor !== undefined) (merged.HMIS_ACTOR = flags.actor), fromFlag.add('HMIS_ACTOR');

  const parsed = schema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = String(issue.path[0] ?? 'configuration');
    const name = key === 'HMIS_DATABASE_URL' && fromFlag.has(key) ? '--db' : key === 'HMIS_ACTOR' && fromFlag.has(key) ? '--actor' : key;
    const raw = merged[key];
    // URLs may carry passwords and key settings point at secrets: name the variable, never echo its value.
    const secret = /URL|KEY/.test(key) && raw !== undefined && /@|password|secret/i.test(raw);
    const shown = raw === undefined || secret ? '' : ` ${quote(raw)}`;
    throw new UsageError(`${name}${shown} ${issue.message}`);
  }
  const c = parsed.data;

  const format = parseFormat(flags);
  const pgEnv = Boolean(merged.PGHOST || merged.PGDATABASE);
  const dataHome = merged.XDG_DATA_HOME || join(merged.HOME || homedir(), '.local', 'share');
  const actor = (c.HMIS_ACTOR ?? defaultActor(merged)).slice(0, 100);
  if (/[\u0000-\u001f\u007f]/.test(actor)) throw new UsageError(`--actor / HMIS_ACTOR ${quote(actor)} contains control characters; give a plain name`);

  return {
    databaseUrl: c.HMIS_DATABASE_URL ?? null,
    databaseSource: c.HMIS_DATABASE_URL ? (fromFlag.has('HMIS_DATABASE_URL') ? 'flag' : 'env') : pgEnv ? 'pg-env' : 'embedded',
    dataDir: resolve(cwd, c.HMIS_DATA_DIR ?? join(dataHome, 'hmis-admin')),
    siteUrl: c.HMIS_SITE_URL ? c.HMIS_SITE_URL.replace(/\/+$/, '') : null,
    resetPath: c.HMIS_RESET_PATH,
    verifyPath: c.HMIS_VERIFY_PATH,
    smtpUrl: c.HMIS_SMTP_URL ?? null,
    mailFrom: c.HMIS_MAIL_FROM ?? null,
    dkim: c.HMIS_DKIM_DOMAIN
      ? { domain: c.HMIS_DKIM_DOMAIN.toLowerCase(), selector: c.HMIS_DKIM_SELECTOR!, keyFile: resolve(cwd, c.HMIS_DKIM_KEY_FILE!) }
      : null,
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
      return `${u.hostname || 'localhost'}:${u.port || '5432'}`;
    } catch {
      return 'the configured server';
    }
  }
  if (config.databaseSource === 'pg-env') return `${process.env.PGHOST ?? 'localhost'}:${process.env.PGPORT ?? '5432'}`;
  return `the embedded database in ${join(config.dataDir, 'pgdata')}`;
}
