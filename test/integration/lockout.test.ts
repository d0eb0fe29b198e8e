import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { unlockAccount } from '../../src/services/accounts/lockout.js';
import { recordLoginFailure, recordLoginSuccess } from '../../src/index.js';
import { cli } from '../helpers/cli.js';
import { onServer, openTestDb, type TestDb } from '../helpers/db.js';
import { useHostDb } from '../helpers/host-suite.js';
import { HOSTS, lockedCount, userRow } from '../helpers/hosts.js';
import { count, mailDir, seedAgency, seedUser, serviceContext } from '../helpers/lockout-seed.js';

let db: TestDb;
let env: Record<string, string>;
const NOW = new Date('2027-03-10T15:00:00Z');
const clock = () => NOW;
const LOCKED = new Date('2027-03-09T10:00:00Z');

const run = (args: string[], extra: Parameters<typeof cli>[1] = {}) => cli(args, { database: db, env, clock, ...extra });
const audits = (action: string) => count(db.knex('audit_log').where('action', action));
const user = (name: string) => userRow(db.knex, name);

describe.each(HOSTS)('on the %s host', (host) => {
useHostDb(host, (d) => {
  db = d;
  env = { ...d.env, HMIS_DATA_DIR: mailDir() };
});

describe('unlock', () => {
  it('20 concurrent unlocks of one account: exactly one unlocked and one audit row', async () => {
    await seedUser(db.knex, { username: 'jdoe', lockedAt: LOCKED, lockReason: 'failed_logins', failed: 3 });
    const ctx = serviceContext(db, env, clock);
    const row = await user('jdoe');
    // On the server these run on separate pooled connections; PGlite has one connection and serialises them.
    const outcomes = await Promise.all(Array.from({ length: 20 }, () => unlockAccount(ctx, row, { ticket: 'HD-1' })));
    expect(outcomes.filter((o) => o.outcome === 'unlocked')).toHaveLength(1);
    expect(outcomes.filter((o) => o.outcome === 'not_locked')).toHaveLength(19);
    expect(await audits('unlock')).toBe(1);
    const after = await user('jdoe');
    expect([after.locked_at, after.lock_reason, after.failed_login_attempts]).toEqual([null, null, 0]);
    if (onServer) expect(db.kind).toBe('postgres');
  });

  it('20 concurrent CLI unlocks agree', async () => {
    await seedUser(db.knex, { username: 'race', lockedAt: LOCKED, lockReason: 'admin' });
    const rs = await Promise.all(Array.from({ length: 20 }, () => run(['unlock', 'RACE', '--json'])));
    expect(rs.every((r) => r.code === 0)).toBe(true);
    const outcomes = rs.map((r) => r.json().results[0].outcome);
    expect(outcomes.filter((o) => o === 'unlocked')).toHaveLength(1);
    expect(await audits('unlock')).toBe(1);
  });

  it('clears the lock, reason and counter together and audits with the ticket', async () => {
    await seedUser(db.knex, { username: 'jdoe', lockedAt: LOCKED, lockReason: 'failed_logins', failed: 3 });
    const r = await run(['unlock', 'jdoe', '--ticket', 'HD-77', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toEqual({ results: [{ user: 'jdoe', outcome: 'unlocked', message: expect.stringMatching(/was locked: failed_logins/) }] });
    const a = await db.knex('audit_log').where('action', 'unlock').first();
    expect(a).toMatchObject({ actor: 'tester', ticket: 'HD-77' });
    expect(typeof a.details === 'string' ? JSON.parse(a.details) : a.details).toMatchObject({ previousReason: 'failed_logins', failedLoginAttempts: 3 });
  });

  it('not locked is a no-op (exit 0, no audit row)', async () => {
    await seedUser(db.knex, { username: 'free' });
    const r = await run(['unlock', 'free', '--json']);
    expect(r.code).toBe(0);
    expect(r.json().results[0].outcome).toBe('not_locked');
    expect(await count(db.knex('audit_log'))).toBe(0);
  });

  it('refuses an agreement_expired lock with the sign command (exit 2), nothing changed', async () => {
    await seedUser(db.knex, { username: 'exp', lockedAt: LOCKED, lockReason: 'agreement_expired', expiresAt: new Date('2027-03-01T00:00:00Z') });
    const before = await user('exp');
    const r = await run(['unlock', 'exp', '--json']);
    expect(r.code).toBe(2);
    const res = r.json().results[0];
    expect(res.outcome).toBe('refused');
    expect(res.message).toMatch(/hmis-admin agreement sign exp --by user/);
    expect(res.message).toMatch(/Missing signatures: user, supervisor, director/);
    expect(r.stderr).toMatch(/refused; nothing was changed/);
    expect(await user('exp')).toEqual(before);
    expect(await count(db.knex('audit_log'))).toBe(0);
    const dry = await run(['unlock', 'exp', '--dry-run', '--json']);
    expect([dry.code, dry.json().results[0].outcome]).toEqual([2, 'refused']);
  });

  it('an unknown single user exits 3; among several it is a not_found row and the bulk exits 4', async () => {
    await seedUser(db.knex, { username: 'a1', lockedAt: LOCKED, lockReason: 'failed_logins', failed: 3 });
    await seedUser(db.knex, { username: 'a2', lockedAt: LOCKED, lockReason: 'agreement_expired' });
    const one = await run(['unlock', 'nobody']);
    expect(one.code).toBe(3);
    expect(one.stderr).toMatch(/no user "nobody"/);
    const bulk = await run(['unlock', 'a1', 'nobody', 'a2', '--yes', '--json']);
    expect(bulk.code).toBe(4);
    expect(bulk.json().results.map((x: { user: string; outcome: string }) => [x.user, x.outcome])).toEqual([
      ['a1', 'unlocked'],
      ['nobody', 'not_found'],
      ['a2', 'refused'],
    ]);
    expect(bulk.stderr).toMatch(/2 of 3 accounts did not succeed: nobody \(not_found\), a2 \(refused\)/);
  });

  it('bulk needs --yes without a terminal (exit 2, nothing touched); a "no" at the prompt exits 130', async () => {
    await seedUser(db.knex, { username: 'b1', lockedAt: LOCKED, lockReason: 'failed_logins' });
    await seedUser(db.knex, { username: 'b2', lockedAt: LOCKED, lockReason: 'failed_logins' });
    for (const args of [['unlock', 'b1', 'b2'], ['unlock', '--all']]) {
      const r = await run(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/needs confirmation; rerun with --yes/);
    }
    const prompt = { confirm: async () => false } as never;
    const no = await run(['unlock', '--all'], { interactive: true, prompt });
    expect(no.code).toBe(130);
    expect(await lockedCount(db.knex)).toBe(2);
    expect(await count(db.knex('audit_log'))).toBe(0);
    const yes = await run(['unlock', 'b1', 'b2', '--json'], { interactive: true, prompt: { confirm: async () => true } as never });
    expect(yes.code).toBe(0);
    expect(await lockedCount(db.knex)).toBe(0);
  });

  it('--dry-run reports would_unlock and changes nothing', async () => {
    await seedUser(db.knex, { username: 'd1', lockedAt: LOCKED, lockReason: 'failed_logins', failed: 3 });
    const r = await run(['unlock', 'd1', '--dry-run', '--json']);
    expect(r.json().results[0].outcome).toBe('would_unlock');
    expect((await user('d1')).locked_at).not.toBeNull();
    expect(await count(db.knex('audit_log'))).toBe(0);
  });

  it('--notify records the notice with the change and delivers it', async () => {
    await seedUser(db.knex, { username: 'n1', lockedAt: LOCKED, lockReason: 'failed_logins', failed: 3 });
    const r = await run(['unlock', 'n1', '--notify', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().results[0].message).toMatch(/notice sent/);
    const mail = await db.knex('mail_outbox').first();
    expect(mail).toMatchObject({ kind: 'notice', to_address: 'n1@harbor.example.org', subject: 'Your HMIS account is open again', status: 'sent' });
    expect(mail.text_body).toMatch(/has now been unlocked/);
  });

  it('bulk --notify delivers the notices in batches and reports each', async () => {
    for (const name of ['m1', 'm2', 'm3']) await seedUser(db.knex, { username: name, lockedAt: LOCKED, lockReason: 'failed_logins', failed: 3 });
    await seedUser(db.knex, { username: 'm4', email: null, lockedAt: LOCKED, lockReason: 'failed_logins' });
    const r = await run(['unlock', '--all', '--notify', '--yes', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const msgs = r.json().results.map((x: { user: string; message: string }) => `${x.user}: ${x.message}`);
    expect(msgs.filter((m: string) => /; notice sent( \(written to \S+\.eml\))?$/.test(m))).toHaveLength(3);
    expect(msgs.find((m: string) => m.startsWith('m4'))).toMatch(/no email address on file/);
    expect(await count(db.knex('mail_outbox').where('status', 'sent'))).toBe(3);
  });

  it('--all pages through every matching account, leaves expired-agreement locks alone, filters by reason and agency', async () => {
    const agency = await seedAgency(db.knex);
    for (let i = 1; i <= 620; i++) {
      await seedUser(db.knex, { username: `bulk${i}`, lockedAt: LOCKED, lockReason: i % 10 === 0 ? 'admin' : 'failed_logins', failed: 3, agencyId: i % 2 === 0 ? agency : null });
    }
    await seedUser(db.knex, { username: 'expd', lockedAt: LOCKED, lockReason: 'agreement_expired' });
    const admins = await run(['unlock', '--all', '--reason', 'admin', '--agency', 'harbor light shelter', '--yes', '--json']);
    expect(admins.code, admins.stderr).toBe(0);
    expect(admins.json().results).toHaveLength(62);
    const r = await run(['unlock', '--all', '--yes', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const body = r.json();
    expect(body.results).toHaveLength(620 - 62);
    expect(body.counts).toEqual({ unlocked: 558 });
    expect(r.stderr).toMatch(/1 account\(s\) locked for an expired agreement were left alone/);
    expect(await lockedCount(db.knex)).toBe(1);
    expect(await audits('unlock')).toBe(620);
  });
});

describe('lock', () => {
  it("locks with reason admin and the text in the audit trail; a second lock says it is already locked", async () => {
    await seedUser(db.knex, { username: 'leaver' });
    const r = await run(['lock', 'leaver', '--reason', 'left the agency', '--ticket', 'HD-9', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().results[0].outcome).toBe('locked');
    const u = await user('leaver');
    expect([u.lock_reason, u.locked_at]).toEqual(['admin', NOW.toISOString()]);
    const a = await db.knex('audit_log').where('action', 'lock').first();
    expect(typeof a.details === 'string' ? JSON.parse(a.details) : a.details).toEqual({ reason: 'admin', note: 'left the agency', previousReason: null, previousLockedAt: null });
    const again = await run(['lock', 'leaver', '--reason', 'again', '--json']);
    expect(again.code).toBe(0);
    expect(again.json().results[0]).toMatchObject({ outcome: 'locked', message: expect.stringMatching(/^already locked .*nothing changed$/) });
    expect(await audits('lock')).toBe(1);
  });

  it('needs a reason (exit 2) and an existing user (exit 3)', async () => {
    await seedUser(db.knex, { username: 'x' });
    expect((await run(['lock', 'x'])).code).toBe(2);
    expect((await run(['lock', 'x', '--reason', '  '])).code).toBe(2);
    expect((await run(['lock', 'ghost', '--reason', 'gone'])).code).toBe(3);
    expect(await count(db.knex('audit_log'))).toBe(0);
  });
});

});

describe('recordLoginFailure / recordLoginSuccess (native: a Devise application counts its own)', () => {
  beforeAll(async () => {
    db = await openTestDb();
    env = { HMIS_DATA_DIR: mailDir() };
  });
  afterAll(async () => db?.close());
  beforeEach(async () => db.reset());

  it('10 parallel failures: counter 10, locked once at the threshold, one audit row', async () => {
    await seedUser(db.knex, { username: 'JDoe' });
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => recordLoginFailure(db.knex, i % 2 ? 'jdoe' : 'JDOE', { threshold: 3, now: NOW })),
    );
    expect(results.filter((r) => r.lockedNow)).toHaveLength(1);
    const u = await user('jdoe');
    expect(u.failed_login_attempts).toBe(10);
    expect(u.lock_reason).toBe('failed_logins');
    expect(u.locked_at).toBe(NOW.toISOString());
    const rows = await db.knex('audit_log').where({ action: 'lock' });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ actor: 'hmis-login' });
    expect(typeof rows[0].details === 'string' ? JSON.parse(rows[0].details) : rows[0].details).toMatchObject({ reason: 'failed_logins', failedLoginAttempts: 3 });
  });

  it('usernames differing in case share one counter; the threshold locks exactly at 3', async () => {
    await seedUser(db.knex, { username: 'msmith' });
    expect(await recordLoginFailure(db.knex, 'MSmith', { threshold: 3, now: NOW })).toEqual({ locked: false, lockedNow: false });
    expect(await recordLoginFailure(db.knex, 'msmith', { threshold: 3, now: NOW })).toEqual({ locked: false, lockedNow: false });
    expect(await recordLoginFailure(db.knex, 'MSMITH', { threshold: 3, now: NOW })).toEqual({ locked: true, lockedNow: true });
    expect(await recordLoginFailure(db.knex, 'msmith', { threshold: 3, now: NOW })).toEqual({ locked: true, lockedNow: false });
    expect((await user('msmith')).failed_login_attempts).toBe(4);
  });

  it('an unknown username gets the same shape and changes nothing', async () => {
    await seedUser(db.knex, { username: 'real' });
    const unknown = await recordLoginFailure(db.knex, 'ghost', { threshold: 3, now: NOW });
    const known = await recordLoginFailure(db.knex, 'real', { threshold: 3, now: NOW });
    expect(unknown).toEqual({ locked: false, lockedNow: false });
    expect(Object.keys(unknown)).toEqual(Object.keys(known));
    expect(await recordLoginSuccess(db.knex, 'ghost', { now: NOW })).toEqual({ locked: false, lockedNow: false });
    expect(await count(db.knex('audit_log'))).toBe(0);
  });

  it('success resets the counter and stamps last_login_at, but not on a locked account', async () => {
    await seedUser(db.knex, { username: 'ok', failed: 2 });
    await seedUser(db.knex, { username: 'lk', failed: 3, lockedAt: LOCKED, lockReason: 'failed_logins' });
    expect(await recordLoginSuccess(db.knex, 'OK', { now: NOW })).toEqual({ locked: false, lockedNow: false });
    expect(await recordLoginSuccess(db.knex, 'lk', { now: NOW })).toEqual({ locked: true, lockedNow: false });
    const ok = await user('ok');
    expect([ok.failed_login_attempts, ok.last_login_at]).toEqual([0, NOW.toISOString()]);
    const lk = await user('lk');
    expect([lk.failed_login_attempts, lk.last_login_at]).toEqual([3, null]);
  });
});
