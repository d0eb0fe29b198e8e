/** Demo data generated inside the database (generate_series, in batches) so a million accounts take seconds. */
import type { Knex } from 'knex';

export const DEMO_AGENCIES: Array<[string, string, string | null]> = [
  ['Harbor Light Shelter', 'Denise Okafor', 'dokafor@harborlight.example.org'],
  ['Northside Family Services', 'Marcus Bell', 'mbell@northsidefamily.example.org'],
  ['Riverbend Housing Coalition', 'Priya Raman', 'praman@riverbend.example.org'],
  ['Open Door Outreach', 'Thomas Nguyen', 'tnguyen@opendoor.example.org'],
  ['Safe Haven Youth Center', 'Carmen Ortiz', 'cortiz@safehavenyouth.example.org'],
  ['Veterans Bridge Housing', 'Robert Hale', 'rhale@vetbridge.example.org'],
  ['Eastgate Rapid Rehousing', 'Angela Brooks', null],
  ['Hope Street Day Center', 'Samuel Park', 'spark@hopestreet.example.org'],
];

const FIRST = ['Maria', 'James', 'Aisha', 'Robert', 'Linda', 'Miguel', 'Grace', 'David', 'Fatima', 'Kevin', 'Rosa', 'Daniel', 'Mei', 'Anthony', 'Keisha', 'Joseph', 'Elena', 'Brian', 'Nadia', 'Carlos', 'Hannah', 'Andre', 'Sofia', 'Tyrone', 'Julia', 'Omar', 'Laura', 'Victor', 'Amara', 'Patrick', 'Ines', 'Derek'];
const LAST = ['Garcia', 'Johnson', 'Okafor', 'Smith', 'Nguyen', 'Hernandez', 'Williams', 'Brown', 'Khan', 'Lee', 'Martinez', 'Davis', 'Chen', 'Lopez', 'Wilson', 'Anderson', 'Patel', 'Thomas', 'Moore', 'Jackson', 'Kim', 'Rivera', 'Clark', 'Lewis', 'Walker', 'Young', 'Hall', 'Allen', 'Scott', 'Adams', 'Baker', 'Turner'];

/** Who a demo account is made to be before it is inserted: the README's example names and its supervisor. */
export interface DemoRoles {
  /** The i of msmith (see demoExampleIndex), or 0 when the demo is too small to have one. */
  msmith: number;
  /**
   * Supervisor id per agency (same order as the agency ids). Empty while the supervisors themselves (the
   * first account of each agency) are inserted: then the new ids and agencies are returned; else nothing.
   */
  supervisors: number[];
  /** Account i gets id idBase + i: ids in i order without sorting each batch (see reserveDemoIds). */
  idBase: number;
}

/**
 * The i of msmith: the first account after jdoe in good order (not locked, email verified, a phone, the
 * agreement good for more than 30 days), by the same i % 100 and i % 1000 rules as insertDemoUsers.
 */
export function demoExampleIndex(users: number): number {
  for (let i = 2; i <= users; i++) {
    const k = i % 100;
    const lk = i % 1000;
    const locked = lk <= 7;
    const unverified = k >= 18 && k <= 22;
    const noPhone = (k >= 23 && k <= 27) || k === 15 || k === 16;
    const expiresSoon = k >= 8 && k <= 14;
    if (!locked && !unverified && !noPhone && !expiresSoon) return i;
  }
  return 0;
}

/**
 * Insert users [from, to] of a demo of any size. Each i lands in one state by
 * i % 100, so every state (expiring, expired, missing email, unverified, missing phone) appears at any
 * size; locks go by i % 1000 (the first 8 of every thousand: 5 failed logins, 2 expired agreements,
 * 1 admin) so a large demo has a realistic locked list (0.8%) rather than one in twelve accounts.
 * Every column is final when inserted (names of the README's examples, supervisors): a million rows
 * are written once, never rewritten.
 */
export async function insertDemoUsers(
  db: Knex,
  from: number,
  to: number,
  agencyIds: number[],
  domains: string[],
  roles: DemoRoles,
): Promise<Array<{ id: number; agency_id: number }>> {
  const { rows } = (await db.raw(
    `
    with g as (
      select i, i % 100 as k, i % 1000 as lk, 1 + (i - 1) % ? as a,
        (?::text[])[1 + (i * 7) % ${FIRST.length}] as first_name, (?::text[])[1 + (i * 13 + i / ${FIRST.length}) % ${LAST.length}] as last_name
      from generate_series(?::int, ?::int) as i
      offset 0 -- a fence: each name is looked up once a row, not at every use below
    ), s as (
      select i, k, lk, first_name, last_name,
        (?::int[])[a] as agency_id, (?::text[])[a] as domain, (?::int[])[a] as supervisor_id,
        case when i = 1 then 'jdoe' when i = ? then 'msmith' else lower(substr(first_name, 1, 1) || last_name) || i end as username,
        case when i = 1 then 'jane.doe@agency.org' when i = ? then 'michael.smith@agency.org' end as example_email,
        case when i = 1 then 'Jane' when i = ? then 'Michael' else first_name end as shown_first,
        case when i = 1 then 'Doe' when i = ? then 'Smith' else last_name end as shown_last
      from g
    )
    insert into users (id, username, first_name, last_name, email, email_verified_at, phone, agency_id, supervisor_id,
      failed_login_attempts, last_failed_login_at, locked_at, lock_reason, account_expires_at, last_login_at, created_at, updated_at)
    select
      ?::int + i, username, shown_first, shown_last,
      case when example_email is not null then example_email
           when k between 15 and 17 then null
           when k = 29 then 'shared.desk@' || domain
           when k = 30 then 'not-an-address'
           else lower(first_name || '.' || last_name) || i || '@' || domain end,
      case when k between 18 and 22 then null else now() - (i % 300) * interval '1 day' end,
      case when k between 23 and 27 or k between 15 and 16 then null
           else '(555) ' || lpad((100 + i % 900)::text, 3, '0') || '-' || lpad((i % 10000)::text, 4, '0') end,
      agency_id, supervisor_id,
      case when lk between 0 and 4 then 3 when k = 31 then 2 when k = 32 then 1 else 0 end,
      case when lk between 0 and 4 or k in (31, 32) then now() - (i % 20) * interval '1 day' - interval '5 minutes' end,
      case when lk between 0 and 4 then now() - (i % 20) * interval '1 day'
           when lk between 5 and 6 then now() - (1 + i % 40) * interval '1 day'
           when lk = 7 then now() - (i % 90) * interval '1 day' end,
      case when lk between 0 and 4 then 'failed_logins' when lk between 5 and 6 then 'agreement_expired' when lk = 7 then 'admin' end,
      today + case
           when lk between 5 and 6 then -(1 + i % 40) * interval '1 day'
           when k between 8 and 11 then (1 + i % 30) * interval '1 day'
           when k between 12 and 14 then -(1 + i % 10) * interval '1 day'
           else (31 + i % 330) * interval '1 day' end,
      case when k % 9 = 0 then null else now() - (i % 60) * interval '1 day' end,
      now() - (400 + i % 1000) * interval '1 day',
      now()
    from s cross join (select date_trunc('day', now()) as today) as t
    ${roles.supervisors.length ? '' : 'returning id, agency_id'}
    `,
    [agencyIds.length, FIRST, LAST, from, to, agencyIds, domains, roles.supervisors, roles.msmith, roles.msmith, roles.msmith, roles.msmith, roles.idBase],
  )) as { rows: Array<{ id: number; agency_id: number }> };
  return rows;
}

/**
 * Reserve ids for `users` demo accounts from the users id sequence and return the base (account i gets
 * base + i): the sequence moves past the whole block at once, so accounts added later get ids after it.
 */
export async function reserveDemoIds(db: Knex, users: number): Promise<number> {
  const { rows } = (await db.raw(
    `select setval(s, nextval(s) + ?::bigint - 1) - ?::bigint as base from pg_get_serial_sequence('users', 'id') as s`,
    [users, users],
  )) as { rows: Array<{ base: number | string }> };
  return Number(rows[0]!.base);
}

/** Partly signed renewals for accounts that expire within 30 days or already did. */
export async function insertDemoAgreements(db: Knex): Promise<void> {
  await db.raw(`
    insert into user_agreements (user_id, term_started_at, user_signed_at, user_signed_by, supervisor_signed_at, supervisor_signed_by,
      director_signed_at, director_signed_by)
    select id, account_expires_at - interval '365 days',
      case when id % 4 in (1, 2, 3) then now() - interval '3 days' end, case when id % 4 in (1, 2, 3) then 'demo' end,
      case when id % 4 = 2 then now() - interval '2 days' end, case when id % 4 = 2 then 'demo' end,
      case when id % 4 = 3 then now() - interval '1 day' end, case when id % 4 = 3 then 'demo' end
    from users
    where account_expires_at < now() + interval '30 days'
    order by id`); // agreement ids in account order, whatever order the rows lie in
}

/**
 * Run `load` with the users table's primary key, secondary indexes and foreign keys (its own, and those of
 * the tables that point at it) set aside, then build each index once and check each key with one query:
 * PostgreSQL's advice for populating a table ("Populating a Database": remove indexes and foreign-key
 * constraints, load, re-create), rather than maintaining eight indexes and two key checks row by row.
 * Inside the demo's transaction: on failure nothing changed. The definitions come from the catalogue, so
 * they stay exactly those the migrations made.
 */
export async function withUsersIndexesDeferred<T>(trx: Knex.Transaction, load: () => Promise<T>): Promise<T> {
  const { rows: indexes } = (await trx.raw(`
    select pg_get_indexdef(i.indexrelid) as def, i.indexrelid::regclass::text as name from pg_index i
    where i.indrelid = 'users'::regclass and not exists (select 1 from pg_constraint c where c.conindid = i.indexrelid)`)) as {
    rows: Array<{ def: string; name: string }>;
  };
  // Keys: the primary key first (the foreign keys need it back before they are checked), then the keys of
  // users and of every table that references it.
  const { rows: keys } = (await trx.raw(`
    select conrelid::regclass::text as "table", quote_ident(conname) as name, pg_get_constraintdef(oid) as def, contype = 'p' as primary
    from pg_constraint
    where (conrelid = 'users'::regclass and contype in ('p', 'f')) or (confrelid = 'users'::regclass and contype = 'f')
    order by contype = 'p' desc, conrelid = 'users'::regclass desc, conname`)) as { rows: Array<{ table: string; def: string; name: string; primary: boolean }> };
  for (const k of [...keys].reverse()) await trx.raw(`alter table ${k.table} drop constraint ${k.name}`);
  for (const i of indexes) await trx.raw(`drop index ${i.name}`);
  const result = await load();
  const add = (k: (typeof keys)[number]) => trx.raw(`alter table ${k.table} add constraint ${k.name} ${k.def}`);
  for (const k of keys.filter((k) => k.primary)) await add(k);
  for (const i of indexes) await trx.raw(i.def);
  for (const k of keys.filter((k) => !k.primary)) await add(k);
  return result;
}

/**
 * The administrator's locks of the demo, as `lock` would have written them: who (a made-up HR
 * account), when, the ticket and why — the story `helpdesk` tells before anyone unlocks such an account.
 */
export async function auditDemoAdminLocks(db: Knex): Promise<void> {
  await db.raw(`insert into audit_log (at, actor, action, user_id, ticket, details)
    select locked_at, 'hr.admin', 'lock', id, 'HR-' || (1000 + id),
      jsonb_build_object('reason', 'admin', 'note', 'left the agency (demo)', 'previousReason', null, 'previousLockedAt', null)
    from users where lock_reason = 'admin'
    order by locked_at, id`); // ids in time order: `audit` lists newest first by id, as real entries are written
}
