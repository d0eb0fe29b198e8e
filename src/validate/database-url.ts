/**
 * --db / HMIS_DATABASE_URL: a postgres:// URL checked in full at start (host, IPv6 brackets, port,
 * escapes, sslmode, certificate files), and the one place that turns it into pg's connection options.
 */
import type { Knex } from 'knex';
import { createRequire } from 'node:module';
import { checkUrl, urlError } from './urls.js';
import { portProblem, urlHost } from './host.js';
import { unsafeCharacters } from './chars.js';
import { quote } from './quote.js';
import { UsageError } from '../errors.js';

/** What sslmode may say; prefer, require and verify-ca verify the server certificate, as pg 8 does. */
export const SSL_MODES = ['disable', 'prefer', 'require', 'verify-ca', 'verify-full', 'no-verify'] as const;

const FIX = 'e.g. postgres://user@db.example.org:5432/hmis';

/**
 * The query parameters a database URL may carry (documented in the README). pg copies any parameter into
 * its connection options (`user=`, `password=` would override the URL's own), so anything else is refused.
 * `options` passes server settings, e.g. `options=-c%20statement_timeout%3D60s`.
 */
export const URL_PARAMETERS = ['sslmode', 'sslcert', 'sslkey', 'sslrootcert', 'uselibpqcompat', 'options', 'connect_timeout', 'host', 'port'] as const;

// Loaded on first use: `--help` and the embedded database never need pg's URL parser.
const require = createRequire(import.meta.url);
const parseIntoClientConfig = (url: string): Knex.PgConnectionConfig =>
  (require('pg-connection-string') as typeof import('pg-connection-string')).parseIntoClientConfig(url) as Knex.PgConnectionConfig;

/**
 * Where a checked URL leads, as pg will connect: a ?host=/?port= parameter, else the URL's own, else
 * PGHOST/PGPORT/PGDATABASE (pg reads them for what the URL leaves out). `connectTimeoutMs`: the URL's
 * connect_timeout in seconds as libpq reads it (0 or less: wait as long as it takes; 1 counts as 2), else
 * PGCONNECT_TIMEOUT, else `fallbackMs`.
 */
export function databaseTarget(url: string, fallbackMs: number): { host: string; port: string; database?: string; connectTimeoutMs: number } {
  // Only where it leads: without sslmode, whose parsing would print pg-connection-string's warning.
  const u = new URL(url);
  u.searchParams.delete('sslmode');
  const c = (require('pg-connection-string') as typeof import('pg-connection-string')).parse(u.href);
  const seconds = (c as { connect_timeout?: string }).connect_timeout ?? process.env.PGCONNECT_TIMEOUT;
  const n = seconds === undefined || seconds.trim() === '' ? NaN : Number(seconds);
  const connectTimeoutMs = !Number.isFinite(n) ? fallbackMs : n <= 0 ? 0 : Math.max(2, Math.floor(n)) * 1000;
  return {
    host: c.host || process.env.PGHOST || 'localhost',
    port: c.port || process.env.PGPORT || '5432',
    database: c.database || process.env.PGDATABASE || undefined,
    connectTimeoutMs,
  };
}

/** Validate a database URL; returns it trimmed. Throws a UsageError (exit 2) naming `what`. */
export function parseDatabaseUrl(raw: string, what: string): string {
  const value = raw.trim();
  const checked = checkUrl(value, ['postgres', 'postgresql'], { hostRequired: false, userinfo: true });
  if (typeof checked === 'string') throw urlError(raw, what, `${checked}; ${FIX}`);
  const { url, parts } = checked;
  if (parts.rest.includes('#')) throw urlError(raw, what, `must not have a fragment (#); ${FIX}`);
  const q = url.searchParams;
  const mode = q.get('sslmode');
  if (mode !== null && !(SSL_MODES as readonly string[]).includes(mode)) {
    throw urlError(raw, what, `has sslmode=${mode}; use one of ${SSL_MODES.join(', ')}`);
  }
  for (const key of new Set(q.keys())) {
    if (!(URL_PARAMETERS as readonly string[]).includes(key)) {
      throw urlError(raw, what, `has the unknown parameter ${key}=; only ${URL_PARAMETERS.join(', ')} are taken`);
    }
  }
  const port = q.get('port');
  if (port !== null && portProblem(port)) throw urlError(raw, what, `${portProblem(port)}; ${FIX}`);
  try {
    // Reads sslcert/sslkey/sslrootcert now, so a missing certificate is a configuration error, not a failed run.
    pgConnection(value);
  } catch (err) {
    throw urlError(raw, what, `cannot be used: ${String((err as Error).message).split('\n')[0]!.replace(/[.:]\s*$/, '')}`);
  }
  return value;
}

/**
 * pg's connection options for a checked URL. sslmode=prefer|require|verify-ca is given to pg as an
 * ssl object of our own, which verifies the server as pg 8 does for them: pg-connection-string would
 * otherwise print its multi-line "SECURITY WARNING" on stderr, where only our one line may appear.
 */
export function pgConnection(databaseUrl: string): Knex.PgConnectionConfig {
  const url = new URL(databaseUrl);
  const mode = url.searchParams.get('sslmode');
  const compat = url.searchParams.get('uselibpqcompat') === 'true';
  if (compat || mode === null || mode === 'disable' || mode === 'no-verify' || mode === 'verify-full') return parseIntoClientConfig(databaseUrl);
  url.searchParams.delete('sslmode');
  const config = parseIntoClientConfig(url.href);
  return { ...config, ssl: typeof config.ssl === 'object' ? config.ssl : {} } as Knex.PgConnectionConfig;
}

/**
 * The PG* variables pg reads for what a URL leaves out (and instead of one): checked at start like --db, so a
 * bad one is a configuration error naming the variable (exit 2), not an "unexpected error" from pg later.
 */
export function checkPgEnv(env: Record<string, string | undefined>): void {
  const refuse = (key: string, problem: string) => {
    throw new UsageError(`${key} ${quote(env[key]!)} ${problem}; fix or unset it (or give the database as --db or HMIS_DATABASE_URL)`);
  };
  for (const key of ['PGHOST', 'PGPORT', 'PGDATABASE', 'PGUSER'] as const) {
    const v = env[key];
    if (v === undefined || v === '') continue;
    const unsafe = unsafeCharacters(v);
    if (unsafe) refuse(key, unsafe);
    if (v.trim() !== v) refuse(key, 'has spaces at either end');
    if (key === 'PGPORT') {
      const p = portProblem(v);
      if (p) refuse(key, p);
    } else if (key === 'PGHOST') {
      // A directory is a Unix socket; anything else a host name or IP address (IPv6 without brackets, as libpq takes it).
      const h = v.startsWith('/') ? { ok: true } : urlHost(v.includes(':') ? `[${v}]` : v);
      if (!h.ok) refuse(key, `${(h as { reason: string }).reason}; give a host name, an IP address or a socket directory`);
    } else if (Buffer.byteLength(v) > 63) refuse(key, 'is longer than the 63 bytes PostgreSQL allows in a name');
  }
}
