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
      -- The integers in order, so the ids the column's default gives follow i (the old ORDER BY over the finished
      -- rows sorted 50,000 wide rows a batch, spilling to disk); and a fence: each name is looked up once a row.
      order by i offset 0
    ), s as (
      select i, k, lk, first_name, last_name,
        (?::int[])[a] as agency_id, (?::text[])[a] as domain, (?::int[])[a] as supervisor_id,
        case when i = 1 then 'jdoe' when i = ? then 'msmith' else lower(substr(first_name, 1, 1) || last_name) || i::text end as username,
        case when i = 1 then 'jane.doe@agency.org' when i = ? then 'michael.smith@agency.org' end as example_email,
        case when i = 1 then 'Jane' when i = ? then 'Michael' else first_name end as shown_first,
        case when i = 1 then 'Doe' when i = ? then 'Smith' else last_name end as shown_last
      from g
    )
    insert into users (username, first_name, last_name, email, email_verified_at, phone, agency_id, supervisor_id,
      failed_login_attempts, last_failed_login_at, locked_at, lock_reason, account_expires_at, last_login_at, created_at, updated_at)
    select
      username, shown_first, shown_last,
      case when example_email is not null then example_email
           when k between 15 and 17 then null
           when k = 29 then 'shared.desk@' || domain
           when k = 30 then 'not-an-address'
           else lower(first_name || '.' || last_name) || i::text || '@' || domain end,
      case when k between 18 and 22 then null else now() - (i % 300)::float8 * interval '1 day' end,
      case when k between 23 and 27 or k between 15 and 16 then null
           else '(555) ' || lpad((100 + i % 900)::text, 3, '0') || '-' || lpad((i % 10000)::text, 4, '0') end,
      agency_id, supervisor_id,
      case when lk between 0 and 4 then 3 when k = 31 then 2 when k = 32 then 1 else 0 end,
      case when lk between 0 and 4 or k in (31, 32) then now() - (i % 20)::float8 * interval '1 day' - interval '5 minutes' end,
      case when lk between 0 and 4 then now() - (i % 20)::float8 * interval '1 day'
           when lk between 5 and 6 then now() - (1 + i % 40)::float8 * interval '1 day'
           when lk = 7 then now() - (i % 90)::float8 * interval '1 day' end,
      case when lk between 0 and 4 then 'failed_logins' when lk between 5 and 6 then 'agreement_expired' when lk = 7 then 'admin' end,
      today + case
           when lk between 5 and 6 then -(1 + i % 40)::float8 * interval '1 day'
           when k between 8 and 11 then (1 + i % 30)::float8 * interval '1 day'
           when k between 12 and 14 then -(1 + i % 10)::float8 * interval '1 day'
           else (31 + i % 330)::float8 * interval '1 day' end,
      case when k % 9 = 0 then null else now() - (i % 60)::float8 * interval '1 day' end,
      now() - (400 + i % 1000)::float8 * interval '1 day',
      now()
    from s cross join (select date_trunc('day', now()) as today) as t
    ${roles.supervisors.length ? '' : 'returning id, agency_id'}
    `,
    [agencyIds.length, FIRST, LAST, from, to, agencyIds, domains, roles.supervisors, roles.msmith, roles.msmith, roles.msmith, roles.msmith],
  )) as { rows: Array<{ id: number; agency_id: number }> };
  return rows;
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

/** A constraint or index to put back as it was: where, its name, the SQL that makes it, and its comment as an SQL literal. */
interface SetAside {
  table: string;
  name: string;
  def: string;
  comment: string | null;
}

// Catalogue functions schema-qualified with arguments of their exact types: the definitions read here become DDL, and a
// public.quote_ident(name) someone planted would match `name` more closely than pg_catalog.quote_ident(text).
const constraintsWhere = (where: string) => `
  select conrelid::regclass::text as "table", pg_catalog.quote_ident(conname::text) as name, pg_catalog.pg_get_constraintdef(oid) as def,
    pg_catalog.quote_literal(pg_catalog.obj_description(oid, 'pg_constraint'::name)) as comment
  from pg_constraint where ${where} order by conrelid::regclass::text, conname`;

/**
 * The primary key of users and the foreign keys of other tables that reference users, when the key can be
 * made again exactly as it is: nothing but those keys hangs on it (a view grouping by users.id does), and
 * its index has no storage options, tablespace, CLUSTER or replica-identity mark and no comment, and this
 * role owns every table whose key it would drop. Else none (the primary key stays and is kept up row by row).
 */
async function primaryKeyAndReferences(trx: Knex.Transaction): Promise<{ primary: SetAside[]; references: SetAside[] }> {
  // The key itself, if it qualifies (it has no comment, by the conditions).
  const { rows: primary } = (await trx.raw(constraintsWhere(`oid in (
    select c.oid
    from pg_constraint c join pg_index i on i.indexrelid = c.conindid join pg_class ic on ic.oid = i.indexrelid
    where c.conrelid = 'users'::regclass::oid and c.contype = 'p'
      and not i.indisreplident and not i.indisclustered and ic.reloptions is null and ic.reltablespace = 0::oid
      and pg_catalog.obj_description(c.oid, 'pg_constraint'::name) is null and pg_catalog.obj_description(i.indexrelid, 'pg_class'::name) is null
      and not exists (
        select 1 from pg_depend d
        where ((d.refclassid = 'pg_constraint'::regclass::oid and d.refobjid = c.oid) or (d.refclassid = 'pg_class'::regclass::oid and d.refobjid = i.indexrelid))
          and not (d.classid = 'pg_class'::regclass::oid and d.objid = i.indexrelid)
          and not (d.classid = 'pg_constraint'::regclass::oid and exists (
            select 1 from pg_constraint f where f.oid = d.objid and f.contype = 'f' and f.confrelid = 'users'::regclass::oid)))
      and not exists (
        select 1 from pg_constraint f join pg_class t on t.oid = f.conrelid
        where f.confrelid = 'users'::regclass::oid and f.contype = 'f' and not pg_catalog.pg_has_role(t.relowner, 'USAGE'::text)))`))) as { rows: SetAside[] };
  if (!primary.length) return { primary: [], references: [] };
  const { rows: references } = (await trx.raw(
    constraintsWhere("confrelid = 'users'::regclass::oid and conrelid <> 'users'::regclass::oid and contype = 'f'"),
  )) as { rows: SetAside[] };
  return { primary, references };
}

/**
 * Run `load` with the users table's secondary indexes and foreign keys set aside — and its primary key with
 * the keys of other tables that point at it, where that key can be made again exactly (primaryKeyAndReferences)
 * — then build each index once and check each key with one query: PostgreSQL's advice for populating a
 * table ("Populating a Database": remove indexes and foreign-key constraints, load, re-create), rather than
 * maintaining eight indexes and two key checks row by row. Inside the demo's transaction: on failure nothing
 * changed. The definitions (and comments) come from the catalogue, so they stay those the migrations made.
 */
export async function withUsersIndexesDeferred<T>(trx: Knex.Transaction, load: () => Promise<T>): Promise<T> {
  const { rows: indexes } = (await trx.raw(`
    select 'users' as "table", i.indexrelid::regclass::text as name, pg_catalog.pg_get_indexdef(i.indexrelid) as def,
      pg_catalog.quote_literal(pg_catalog.obj_description(i.indexrelid, 'pg_class'::name)) as comment
    from pg_index i
    where i.indrelid = 'users'::regclass::oid and not exists (select 1 from pg_constraint c where c.conindid = i.indexrelid)`)) as {
    rows: SetAside[];
  };
  const { rows: own } = (await trx.raw(constraintsWhere("conrelid = 'users'::regclass::oid and contype = 'f'"))) as { rows: SetAside[] };
  const { primary, references } = await primaryKeyAndReferences(trx);
  const drop = (k: SetAside) => trx.raw(`alter table ${k.table} drop constraint ${k.name}`);
  const add = async (k: SetAside) => {
    await trx.raw(`alter table ${k.table} add constraint ${k.name} ${k.def}`);
    if (k.comment) await trx.raw(`comment on constraint ${k.name} on ${k.table} is ${k.comment}`);
  };
  for (const k of [...references, ...own]) await drop(k);
  for (const i of indexes) await trx.raw(`drop index ${i.name}`);
  for (const k of primary) await drop(k);
  const result = await load();
  for (const k of primary) await add(k);
  for (const i of indexes) {
    await trx.raw(i.def);
    if (i.comment) await trx.raw(`comment on index ${i.name} is ${i.comment}`);
  }
  for (const k of [...own, ...references]) await add(k);
  return result;
}

/**
 * The administrator's locks of the demo, as `lock` would have written them: who (a made-up HR
 * account), when, the ticket and why — the story `helpdesk` tells before anyone unlocks such an account.
 */
export async function auditDemoAdminLocks(db: Knex): Promise<void> {
  await db.raw(`insert into audit_log (at, actor, action, user_id, ticket, details)
    select locked_at, 'hr.admin', 'lock', id, 'HR-' || (1000 + id)::text,
      pg_catalog.jsonb_build_object('reason', 'admin', 'note', 'left the agency (demo)', 'previousReason', null, 'previousLockedAt', null)
    from users where lock_reason = 'admin'
    order by locked_at, id`); // ids in time order: `audit` lists newest first by id, as real entries are written
}
