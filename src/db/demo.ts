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

function sqlArray(values: string[]): string {
  return `array[${values.map((v) => `'${v.replace(/'/g, "''")}'`).join(',')}]`;
}

/**
 * Insert users [from, to] of a demo of any size. Each i lands in one state by i % 100, so every state
 * (expiring, expired, missing email, unverified, missing phone) appears at any size; locks go by
 * i % 1000 (the first 8 of every thousand: 5 failed logins, 2 expired agreements, 1 admin) so a large
 * demo has a realistic locked list (0.8%) rather than one in twelve accounts.
 */
export async function insertDemoUsers(db: Knex, from: number, to: number, agencyIds: number[], domains: string[]): Promise<void> {
  await db.raw(
    `
    with s as (
      select i, i % 100 as k, i % 1000 as lk,
        (${sqlArray(FIRST)})[1 + (i * 7) % ${FIRST.length}] as first_name,
        (${sqlArray(LAST)})[1 + (i * 13 + i / ${FIRST.length}) % ${LAST.length}] as last_name,
        (?::int[])[1 + (i - 1) % ?] as agency_id,
        (?::text[])[1 + (i - 1) % ?] as domain
      from generate_series(?::int, ?::int) as i
    )
    insert into users (username, first_name, last_name, email, email_verified_at, phone, agency_id,
      failed_login_attempts, last_failed_login_at, locked_at, lock_reason, account_expires_at, last_login_at, created_at, updated_at)
    select
      lower(substr(first_name, 1, 1) || last_name) || i,
      first_name, last_name,
      case when k between 15 and 17 then null
           when k = 29 then 'shared.desk@' || domain
           when k = 30 then 'not-an-address'
           else lower(first_name || '.' || last_name) || i || '@' || domain end,
      case when k between 18 and 22 then null else now() - ((i % 300) || ' days')::interval end,
      case when k between 23 and 27 or k between 15 and 16 then null
           else '(555) ' || lpad((100 + i % 900)::text, 3, '0') || '-' || lpad((i % 10000)::text, 4, '0') end,
      agency_id,
      case when lk between 0 and 4 then 3 when k = 31 then 2 when k = 32 then 1 else 0 end,
      case when lk between 0 and 4 or k in (31, 32) then now() - ((i % 20) || ' days')::interval - interval '5 minutes' end,
      case when lk between 0 and 4 then now() - ((i % 20) || ' days')::interval
           when lk between 5 and 6 then now() - ((1 + i % 40) || ' days')::interval
           when lk = 7 then now() - ((i % 90) || ' days')::interval end,
      case when lk between 0 and 4 then 'failed_logins' when lk between 5 and 6 then 'agreement_expired' when lk = 7 then 'admin' end,
      date_trunc('day', now()) + case
           when lk between 5 and 6 then -((1 + i % 40) || ' days')::interval
           when k between 8 and 11 then ((1 + i % 30) || ' days')::interval
           when k between 12 and 14 then -((1 + i % 10) || ' days')::interval
           else ((31 + i % 330) || ' days')::interval end,
      case when k % 9 = 0 then null else now() - ((i % 60) || ' days')::interval end,
      now() - ((400 + i % 1000) || ' days')::interval,
      now()
    from s
    `,
    [agencyIds, agencyIds.length, domains, domains.length, from, to],
  );
}

/** Supervisors: the first account of each agency supervises the rest. */
export async function assignDemoSupervisors(db: Knex): Promise<void> {
  await db.raw(`
    update users u set supervisor_id = s.min_id
    from (select agency_id, min(id) as min_id from users group by agency_id) s
    where u.agency_id = s.agency_id and u.id <> s.min_id and u.supervisor_id is null`);
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
    where account_expires_at < now() + interval '30 days'`);
}

/**
 * The names the README and --help examples use: jdoe, the first account (locked after failed logins, at
 * Harbor Light Shelter), and msmith, the first account in good order (a reset link for him just works).
 */
export async function nameDemoExamples(db: Knex): Promise<void> {
  await db.raw(`update users set username = 'jdoe', first_name = 'Jane', last_name = 'Doe', email = 'jane.doe@agency.org'
    where id = (select min(id) from users)`);
  await db.raw(`update users set username = 'msmith', first_name = 'Michael', last_name = 'Smith', email = 'michael.smith@agency.org'
    where id = (select min(id) from users where username <> 'jdoe' and locked_at is null and email_verified_at is not null
      and phone is not null and account_expires_at > now() + interval '30 days')`);
}

/**
 * The administrator's locks of the demo, as `lock` would have written them: who (a made-up HR
 * account), when, the ticket and why — the story `helpdesk` tells before anyone unlocks such an account.
 */
export async function auditDemoAdminLocks(db: Knex): Promise<void> {
  await db.raw(`insert into audit_log (at, actor, action, user_id, ticket, details)
    select locked_at, 'hr.admin', 'lock', id, 'HR-' || (1000 + id),
      jsonb_build_object('reason', 'admin', 'note', 'left the agency (demo)', 'previousReason', null, 'previousLockedAt', null)
    from users where lock_reason = 'admin'`);
}
