/**
 * The SQL side of `npm run bench`: what psql runs as the floor of `locked --json` and `email check
 * --json` (the same rows and checks the tool makes, written as one statement each, mirroring
 * src/store/sql/reader.ts with the native mapping and src/services/email/), the EXPLAIN of the list
 * queries the tool really sent (read from knex's debug output), and the SQL that sets up the states
 * the one-shot bulk commands work on.
 */
import type { Knex } from 'knex';
import type { Cmd } from './run.js';

/** psql as the floor: no .psqlrc, unaligned tuples only, one statement. */
export function psql(label: string, url: string, sql: string): Cmd {
  return { label, argv: ['psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-d', url, '-c', sql] };
}

/** `locked --json`: every locked account, most recently locked first, with the fields the tool prints. */
export const LOCKED_JSON = `select coalesce(json_agg(json_build_object(
    'id', u.id, 'username', u.username, 'name', btrim(u.first_name || ' ' || u.last_name), 'email', u.email,
    'emailVerified', u.email_verified_at is not null, 'phone', u.phone, 'agency', a.name, 'locked', true,
    'lockedAt', u.locked_at, 'lockReason', coalesce(u.lock_reason, 'failed_logins'),
    'failedLoginAttempts', u.failed_login_attempts, 'accountExpiresAt', u.account_expires_at, 'lastLoginAt', u.last_login_at)
  order by u.locked_at desc, u.id desc), '[]')
from users u left join agencies a on a.id = u.agency_id
where u.locked_at is not null`;

// The address the tool accepts without its RFC 5322 parser (email-address.ts PLAIN): dot-atom "@"
// lowercase LDH labels, no punycode, an alphabetic TLD of 2 to 63 letters, at most 254 characters and
// a local part of at most 64. Every demo address either passes or is 'not-an-address', so on demo data
// this decides exactly as the tool does. (PostgreSQL's regex engine takes about 100 µs a row over
// PLAIN's lookaheads and bounded repeats, so those are written as separate, cheaper conditions.)
const ATEXT = "[A-Za-z0-9!#$%&''*+/=?^_`{|}~-]";
const plain = (e: string) => `${e} ~ '^${ATEXT}+(\\.${ATEXT}+)*@([a-z0-9]([a-z0-9-]*[a-z0-9])?\\.)+[a-z]+$'
      and ${e} !~ '[@.]xn--|\\.[a-z]$' and length(${e}) <= 254 and strpos(${e}, '@') <= 65
      and case when length(${e}) - strpos(${e}, '@') < 64 then true else ${e} !~ '[^.@]{64}' end`;
const phone = (p: string) => `${p} ~ '^\\+?[0-9 ().-]+$' and length(regexp_replace(${p}, '\\D', '', 'g')) between 7 and 20`;

const COUNTS = `count(*) as accounts, count(*) filter (where cardinality(problems) > 0) as "withProblems",
    count(*) filter (where 'missing_email' = any(problems)) as "missingEmail",
    count(*) filter (where 'invalid_email' = any(problems)) as "invalidEmail",
    count(*) filter (where 'duplicate_email' = any(problems)) as "duplicateEmail",
    count(*) filter (where 'unverified' = any(problems)) as "unverified",
    count(*) filter (where 'missing_phone' = any(problems)) as "missingPhone",
    count(*) filter (where 'invalid_phone' = any(problems)) as "invalidPhone"`;

/** `email check --json`: the problem rows, the counts per agency and the total, as one JSON document. */
export const EMAIL_CHECK_JSON = `with shared as (
  select lower(btrim(email, ' ')) as e, count(*) as n from users
  where coalesce(lower(btrim(email, ' ')), '') <> '' group by 1 having count(*) > 1
), v as materialized (
  select u.id, u.username, a.name as agency, u.email, u.email_verified_at, u.phone, s.n,
    ${plain("btrim(u.email, ' ')")} as email_ok, ${phone('btrim(u.phone)')} as phone_ok
  from users u left join agencies a on a.id = u.agency_id left join shared s on s.e = lower(btrim(u.email, ' '))
), c as materialized (
  select id, username, agency, email,
    array_remove(array[
      case when coalesce(email, '') = '' then 'missing_email' end,
      case when email <> '' and not email_ok then 'invalid_email' end,
      case when n is not null then 'duplicate_email' end,
      case when email <> '' and email_ok and email_verified_at is null then 'unverified' end,
      case when coalesce(phone, '') = '' then 'missing_phone' end,
      case when phone <> '' and not phone_ok then 'invalid_phone' end
    ], null) as problems,
    case when n is not null then 'address shared by ' || n || ' accounts' end as detail
  from v
)
select json_build_object(
  'accounts', (select coalesce(json_agg(json_build_object('id', id, 'user', username, 'agency', agency, 'email', email,
      'problems', problems, 'detail', detail) order by id), '[]') from c where cardinality(problems) > 0),
  'agencies', (select json_agg(x order by x.agency) from (select coalesce(agency, '(no agency)') as agency, ${COUNTS} from c group by 1) x),
  'total', (select row_to_json(t) from (select 'all agencies' as agency, ${COUNTS} from c) t))`;

/**
 * The first account query a run of the tool sent, with its bindings put back, read from knex's debug
 * lines (DEBUG=knex:query,knex:bindings on stderr); undefined when the tool sent none through knex.
 */
export function capturedQuery(stderr: string, match: RegExp): string | undefined {
  const lines = stderr.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const q = /knex:query (.*?)(?: undefined| trx\d+)?$/.exec(lines[i]!);
    if (!q || !match.test(q[1]!)) continue;
    const b = /knex:bindings \[(.*)\]/.exec(lines[i + 1] ?? '');
    const bindings = b ? splitBindings(b[1]!) : [];
    return q[1]!.replace(/\$(\d+)/g, (_, n: string) => bindings[Number(n) - 1] ?? `$${n}`);
  }
  return undefined;
}

/** util.inspect of simple bindings (numbers, strings, booleans, null) as SQL literals. */
function splitBindings(inner: string): string[] {
  const out: string[] = [];
  const re = /\s*('(?:[^'\\]|\\.)*'|[^,]+)\s*(?:,|$)/g;
  for (const m of inner.matchAll(re)) {
    const v = m[1]!.trim();
    if (!v) continue;
    out.push(v.startsWith("'") ? `'${v.slice(1, -1).replace(/\\'/g, "'").replace(/'/g, "''")}'` : v);
  }
  return out;
}

/** How many rows match; for the checks that a state holds what the table says it holds. */
export async function count(db: Knex, sql: string): Promise<number> {
  const { rows } = (await db.raw(`select count(*)::int as n from (${sql}) x`)) as { rows: Array<{ n: number }> };
  return rows[0]!.n;
}

const FAR = `date_trunc('day', now()) + interval '200 days'`;

/**
 * Exactly `n` unlocked accounts whose agreement ends in the window [from, to] (SQL expressions):
 * every account in it moves 200 days ahead, then the first `n` unlocked accounts take `at`.
 */
async function setWindow(db: Knex, n: number, from: string, to: string, at: string): Promise<void> {
  await db.raw(`update users set account_expires_at = ${FAR} where account_expires_at > ${from} and account_expires_at <= ${to}`);
  await db.raw(`update users set account_expires_at = ${at}
    where id in (select id from users where locked_at is null order by id limit ${n})`);
}

/** Exactly `n` unlocked accounts whose agreement expired three days ago (what `expire` locks). */
export async function setExpired(db: Knex, n: number): Promise<void> {
  await db.raw(`update users set account_expires_at = ${FAR} where locked_at is null and account_expires_at <= now()`);
  await setWindow(db, n, `now() - interval '1000 days'`, 'now()', `date_trunc('day', now()) - interval '3 days'`);
}

/** Exactly `n` accounts whose agreement expires in 20 days (due for the 30-day reminder), none reminded yet. */
export async function setExpiring(db: Knex, n: number): Promise<void> {
  await setWindow(db, n, 'now()', `now() + interval '60 days'`, `date_trunc('day', now()) + interval '20 days'`);
  await db.raw('delete from agreement_reminders');
}

/** Exactly `n` accounts locked after failed logins (what `unlock --all` opens). */
export async function setFailedLoginLocks(db: Knex, n: number): Promise<void> {
  const locked = "select id from users where locked_at is not null and coalesce(lock_reason, 'failed_logins') = 'failed_logins'";
  const missing = n - (await count(db, locked));
  if (missing > 0) {
    await db.raw(`update users set locked_at = now() - interval '1 hour', lock_reason = 'failed_logins', failed_login_attempts = 5,
      last_failed_login_at = now() - interval '1 hour'
      where id in (select id from users where locked_at is null order by id desc limit ${missing})`);
  } else if (missing < 0) {
    await db.raw(`update users set locked_at = null, lock_reason = null, failed_login_attempts = 0 where id in (${locked} order by id offset ${n})`);
  }
}
