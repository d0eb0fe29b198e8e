/**
 * Devise-host defects a tester found (issue 9): addresses stored as Devise matches them (lowercased), an open
 * invitation and a pending address change in diagnose, duplicates held by soft-deleted or pending rows, and a
 * unique index of the host's that refuses a write (exit 2 in one line, never SQL). Both databases.
 */
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { openTestDb, type TestDb } from '../helpers/db.js';
import { FROM, SITE } from '../helpers/links.js';
import { seedUser } from '../helpers/lockout-seed.js';
import { startRelay, type TestRelay } from '../helpers/smtp.js';

let db: TestDb;
let relay: TestRelay;
const run = (...args: string[]) => cli(args, { database: db, env: { ...db.env, HMIS_SITE_URL: SITE, HMIS_SMTP_URL: relay.url, HMIS_MAIL_FROM: FROM } });
const row = (login: string) => db.knex('public.users').where('user_name', login).first() as Promise<Record<string, unknown>>;
const audits = async () => Number(((await db.knex('hmis_admin.audit_log').count({ n: '*' })) as Array<{ n: string }>)[0]!.n);
const sql = (k: Knex, q: string, b: Knex.RawBinding[] = []) => k.raw(q, b);

beforeAll(async () => {
  db = await openTestDb('devise');
  relay = await startRelay();
  for (const u of ['mike', 'nora', 'carol', 'dave', 'eve', 'frank', 'gina', 'hank', 'ivan', 'jill']) await seedUser(db.knex, { username: u });
  await sql(db.knex, "update public.users set confirmed_at = now() at time zone 'utc'");
});
afterAll(async () => {
  await relay?.close();
  await db?.close();
});

describe('devise mode: an account the application switched off', () => {
  it('is locked (admin) and listed even when the row has no updated_at to date it: the time shows as unknown', async () => {
    await sql(db.knex, 'alter table public.users alter column updated_at drop not null');
    await sql(db.knex, "update public.users set active = false, updated_at = null where user_name = 'ivan'");
    try {
      const listed = (await run('locked', '--json')).json<Array<{ username: string; locked: boolean; lockedAt: string | null; lockReason: string }>>();
      expect(listed.find((a) => a.username === 'ivan')).toMatchObject({ locked: true, lockedAt: null, lockReason: 'admin' });
      const shown = await run('users', 'show', 'ivan', '--json');
      expect(shown.json().account).toMatchObject({ locked: true, lockReason: 'admin' });
    } finally {
      await sql(db.knex, "update public.users set active = true, updated_at = now() where user_name = 'ivan'");
    }
  });
});

describe('devise mode: addresses as Devise matches them', () => {
  it('email set --verified stores the address lowercased (case_insensitive_keys), and so does a change waiting for confirmation', async () => {
    const v = await run('email', 'set', 'mike', 'Mike.S@Agency.org', '--verified', '--json');
    expect(v.code, v.stderr).toBe(0);
    expect((await row('mike')).email).toBe('mike.s@agency.org');
    expect(v.stdout).toContain('mike.s@agency.org');
    const p = await run('email', 'set', 'nora', 'Nora.Q@Agency.org', '--json');
    expect(p.code, p.stderr).toBe(0);
    expect((await row('nora')).unconfirmed_email).toBe('nora.q@agency.org');
  });

  it('email set clears reset_password_token and reset_password_sent_at (Devise clear_reset_password_token), and touches updated_at', async () => {
    await sql(db.knex, "update public.users set reset_password_token = 'app-digest', reset_password_sent_at = now() at time zone 'utc', updated_at = '2020-01-01' where user_name = 'jill'");
    const r = await run('email', 'set', 'jill', 'jill.new@agency.org', '--verified');
    expect(r.code, r.stderr).toBe(0);
    const j = await row('jill');
    expect(j).toMatchObject({ email: 'jill.new@agency.org', reset_password_token: null, reset_password_sent_at: null });
    expect(new Date(j.updated_at as string).getUTCFullYear()).toBeGreaterThan(2020);
  });
});

describe('devise mode: diagnose', () => {
  it('an open invitation: canReset false, the check says the invitation is open and to resend it from the application', async () => {
    await sql(db.knex, "update public.users set invitation_token = 'inv-digest', invitation_sent_at = now() at time zone 'utc' where user_name = 'carol'");
    const d = await run('diagnose', 'carol', '--json');
    const j = d.json();
    expect(j.canReset).toBe(false);
    const locked = j.checks.find((c: { id: string }) => c.id === 'locked');
    expect(locked).toMatchObject({ status: 'fail' });
    expect(locked.message).toMatch(/invitation .*still open.*resend the invitation from the web application/);
    const text = await run('diagnose', 'carol');
    expect(text.stdout).toMatch(/would NOT work/);
    expect(text.stdout).not.toMatch(/would reach the person and work/);
    // Agreeing with reset send, which refuses the account.
    expect((await run('reset', 'send', 'carol')).code).toBe(2);
  });

  it('a pending address change: the email check names it, and that email verify mails the new address', async () => {
    await sql(db.knex, "update public.users set unconfirmed_email = 'dave.new@agency.org' where user_name = 'dave'");
    const j = (await run('diagnose', 'dave', '--json')).json();
    const email = j.checks.find((c: { id: string }) => c.id === 'email');
    expect(email).toMatchObject({ status: 'warn', fix: 'hmis-admin email verify dave' });
    expect(email.message).toMatch(/a change to dave\.new@agency\.org waits for the person's confirmation.*mails a new confirmation link to dave\.new@agency\.org, not to dave@harbor\.example\.org/);
    expect(j.canReset).toBe(true);
  });
});

describe('devise mode: an address another row holds', () => {
  beforeAll(async () => {
    // A host with a plain unique index on email (not OpenPath's partial one on live rows) and one on phone.
    await sql(db.knex, 'drop index public.index_active_users_on_lower_email');
    await sql(db.knex, 'create unique index users_email_plain on public.users (email)');
    await sql(db.knex, 'create unique index users_phone_plain on public.users (phone)');
    await sql(db.knex, "update public.users set email = 'gone@agency.org', deleted_at = now() at time zone 'utc' where user_name = 'eve'");
    await sql(db.knex, "update public.users set unconfirmed_email = 'wait@agency.org' where user_name = 'gina'");
  });

  it('a soft-deleted holder is named (exit 2, nothing written), with --verified or without', async () => {
    const before = [await row('frank'), await audits(), relay.received.length];
    for (const extra of [['--verified'], []]) {
      const r = await run('email', 'set', 'frank', 'Gone@agency.org', ...extra);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toBe('hmis-admin: gone@agency.org is already the address of the deleted account eve (#5), whose row the web application keeps; each account needs its own address: give frank a different one\n');
      expect(r.stdout).toBe('');
    }
    expect([await row('frank'), await audits(), relay.received.length]).toEqual(before);
  });

  it("an address waiting in another account's unconfirmed_email is refused, naming that account", async () => {
    const r = await run('email', 'set', 'hank', 'wait@agency.org', '--verified');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^hmis-admin: wait@agency\.org is already waiting for gina \(#7\) to confirm it as their new address; .*\n$/);
  });

  it("a unique index of the host's that refuses a write is exit 2 in one line naming the index, never SQL", async () => {
    expect((await run('email', 'set', 'jill', 'jill.new@agency.org', '--phone', '(555) 123-4567')).code).toBe(0);
    const before = [await row('ivan'), await audits()];
    const r = await run('email', 'set', 'ivan', 'ivan@harbor.example.org', '--phone', '(555) 123-4567');
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/^hmis-admin: the web application's database refused the phone number: its unique index users_phone_plain on phone already holds that value for another account; .*\n$/);
    expect(r.stderr).not.toMatch(/update|"public"|select/);
    expect([await row('ivan'), await audits()]).toEqual(before);
  });
});
