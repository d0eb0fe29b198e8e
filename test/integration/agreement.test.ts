import { describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import type { TestDb } from '../helpers/db.js';
import { HOSTS, hostRows, userRow } from '../helpers/hosts.js';
import { useHostDb } from '../helpers/host-suite.js';
import { count, mailDir, seedAgency, seedUser } from '../helpers/lockout-seed.js';

let db: TestDb;
let env: Record<string, string>;
const NOW = new Date('2027-03-10T15:00:00Z');
const TODAY = new Date('2027-03-10T00:00:00Z');
const YEAR = 365 * 86_400_000;

const run = (args: string[]) => cli(args, { database: db, env, clock: () => NOW });
const row = (username: string) => userRow(db.knex, username);
/** Everything a refused command must leave alone. */
const snapshot = async () => ({
  host: await hostRows(db.knex),
  agreements: await db.knex('user_agreements').orderBy('id'),
  audit: await count(db.knex('audit_log')),
  mail: await count(db.knex('mail_outbox')),
});

const PERMS: Array<[string, string, string]> = [
  ['user', 'supervisor', 'director'],
  ['user', 'director', 'supervisor'],
  ['supervisor', 'user', 'director'],
  ['supervisor', 'director', 'user'],
  ['director', 'user', 'supervisor'],
  ['director', 'supervisor', 'user'],
];

describe.each(HOSTS)('on the %s host', (host) => {
useHostDb(host, (d) => {
  db = d;
  env = { ...d.env, HMIS_DATA_DIR: mailDir() };
});

describe('agreement sign', () => {
  it('every signature order renews exactly once, on the third, and lifts the expired-agreement lock', async () => {
    const agency = await seedAgency(db.knex);
    for (const [i, order] of PERMS.entries()) {
      const name = `p${i}`;
      await seedUser(db.knex, { username: name, agencyId: agency, expiresAt: new Date('2027-03-01T00:00:00Z'), lockedAt: new Date('2027-03-01T01:00:00Z'), lockReason: 'agreement_expired' });
      const outcomes: string[] = [];
      for (const by of order) {
        const r = await run(['agreement', 'sign', name, '--by', by, '--json']);
        expect(r.code, r.stderr).toBe(0);
        outcomes.push(r.json().results[0].outcome);
      }
      expect(outcomes, order.join(',')).toEqual(['signed', 'signed', 'renewed']);
      const u = await row(name);
      expect(u.account_expires_at).toBe(new Date(TODAY.getTime() + YEAR).toISOString());
      expect([u.locked_at, u.lock_reason]).toEqual([null, null]);
      const id = u.id;
      expect(await count(db.knex('user_agreements').where('user_id', id).whereNotNull('completed_at'))).toBe(1);
      expect(await count(db.knex('user_agreements').where('user_id', id))).toBe(1);
      expect(await count(db.knex('audit_log').where({ user_id: id, action: 'agreement.sign' }))).toBe(3);
      expect(await count(db.knex('audit_log').where({ user_id: id, action: 'agreement.renewed' }))).toBe(1);
      expect(await count(db.knex('mail_outbox').where({ user_id: id, subject: 'Your HMIS user agreement is renewed' }))).toBe(1);
    }
  });

  it('renews from the later of today and the old expiry; another kind of lock stays', async () => {
    await seedUser(db.knex, { username: 'early', expiresAt: new Date('2027-03-20T00:00:00Z'), lockedAt: NOW, lockReason: 'failed_logins' });
    for (const by of ['user', 'supervisor']) expect((await run(['agreement', 'sign', 'early', '--by', by])).code).toBe(0);
    const r = await run(['agreement', 'sign', 'early', '--by', 'director', '--json']);
    expect(r.json().results[0].message).toMatch(/renewed until 2028-03-19; still locked \(failed_logins\): `hmis-admin unlock early` lifts that/);
    const u = await row('early');
    expect(u.account_expires_at).toBe('2028-03-19T00:00:00.000Z');
    expect(u.lock_reason).toBe('failed_logins');
    // The next renewal's term starts at this completion.
    const next = await run(['agreement', 'sign', 'early', '--by', 'user', '--date', '2027-03-09', '--json']);
    expect(next.code).toBe(2);
    expect(next.stderr).toMatch(/--date 2027-03-09 is before early's current term began \(2027-03-10\)/);
  });

  it('refuses a second signature by the same role, a future date and a date before the term (exit 2, nothing changed)', async () => {
    await seedUser(db.knex, { username: 'r1', expiresAt: new Date('2027-04-01T00:00:00Z'), createdAt: new Date('2026-04-01T00:00:00Z') });
    expect((await run(['agreement', 'sign', 'r1', '--by', 'supervisor'])).code).toBe(0);
    const before = await snapshot();
    const twice = await run(['agreement', 'sign', 'r1', '--by', 'supervisor']);
    expect(twice.code).toBe(2);
    expect(twice.stderr).toMatch(/already has the supervisor signature \(2027-03-10, recorded by tester\); nothing changed/);
    const future = await run(['agreement', 'sign', 'r1', '--by', 'user', '--date', '2027-03-11']);
    expect(future.code).toBe(2);
    expect(future.stderr).toMatch(/in the future/);
    const early = await run(['agreement', 'sign', 'r1', '--by', 'user', '--date', '2026-03-31']);
    expect(early.code).toBe(2);
    expect(early.stderr).toMatch(/before r1's current term began \(2026-04-01\)/);
    expect((await run(['agreement', 'sign', 'r1', '--by', 'boss'])).code).toBe(2);
    expect((await run(['agreement', 'sign', 'r1'])).code).toBe(2);
    expect((await run(['agreement', 'sign', 'r1', '--by', 'user', '--date', '2027-02-30'])).code).toBe(2);
    expect((await run(['agreement', 'sign', 'ghost', '--by', 'user'])).code).toBe(3);
    expect(await snapshot()).toEqual(before);
  });

  it('records every repeated --by in one transaction, each audited; none are dropped', async () => {
    await seedUser(db.knex, { username: 'rjohnson5', expiresAt: new Date('2027-03-01T00:00:00Z'), lockedAt: NOW, lockReason: 'agreement_expired' });
    const two = await run(['agreement', 'sign', 'rjohnson5', '--by', 'director', '--by', 'supervisor', '--ticket', 'HD-7', '--json']);
    expect(two.code, two.stderr).toBe(0);
    expect(two.json().results).toEqual([
      { user: 'rjohnson5', outcome: 'signed', message: 'supervisor and director signatures recorded (2027-03-10); still missing: user' },
    ]);
    const pending = await db.knex('user_agreements').whereNull('completed_at').first();
    expect([pending.supervisor_signed_by, pending.director_signed_by, pending.user_signed_at]).toEqual(['tester', 'tester', null]);
    const signs = await db.knex('audit_log').where('action', 'agreement.sign').orderBy('id');
    expect(signs.map((a) => [(typeof a.details === 'string' ? JSON.parse(a.details) : a.details).by, a.ticket])).toEqual([['supervisor', 'HD-7'], ['director', 'HD-7']]);
    const last = await run(['agreement', 'sign', 'rjohnson5', '--by', 'user', '--json']);
    expect(last.json().results[0].outcome).toBe('renewed');
    expect((await row('rjohnson5')).locked_at).toBeNull();
  });

  it('all three at once renew, lifting an expired-agreement lock but never an administrator\'s lock', async () => {
    await seedUser(db.knex, { username: 'exp', expiresAt: new Date('2027-03-01T00:00:00Z'), lockedAt: NOW, lockReason: 'agreement_expired' });
    await seedUser(db.knex, { username: 'leaver', expiresAt: new Date('2027-03-01T00:00:00Z'), lockedAt: NOW, lockReason: 'agreement_expired' });
    expect((await run(['lock', 'leaver', '--reason', 'left the agency'])).code).toBe(0); // the admin lock takes over
    for (const name of ['exp', 'leaver']) {
      const r = await run(['agreement', 'sign', name, '--by', 'user', '--by', 'supervisor', '--by', 'director', '--json']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.json().results[0]).toMatchObject({ outcome: 'renewed', message: expect.stringMatching(/^user and supervisor and director signatures recorded \(2027-03-10\); agreement complete/) });
    }
    expect(await row('exp')).toMatchObject({ locked_at: null, lock_reason: null });
    const leaver = await row('leaver');
    expect([leaver.lock_reason, leaver.account_expires_at]).toEqual(['admin', new Date(TODAY.getTime() + YEAR).toISOString()]);
    const lv = leaver.id;
    expect(await count(db.knex('audit_log').where({ user_id: lv, action: 'agreement.sign' }))).toBe(3);
    expect(await count(db.knex('audit_log').where({ user_id: lv, action: 'unlock' }))).toBe(0);
  });

  it('one role that cannot be recorded refuses them all (exit 2, nothing changed); a role given twice is refused', async () => {
    await seedUser(db.knex, { username: 'r3', expiresAt: new Date('2027-04-01T00:00:00Z') });
    expect((await run(['agreement', 'sign', 'r3', '--by', 'director'])).code).toBe(0);
    const before = await snapshot();
    const r = await run(['agreement', 'sign', 'r3', '--by', 'supervisor', '--by', 'director']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/already has the director signature .*; nothing changed/);
    const twice = await run(['agreement', 'sign', 'r3', '--by', 'user', '--by', 'user']);
    expect([twice.code, twice.stderr.trim()]).toEqual([2, 'hmis-admin: --by user is given twice; name each role that signed once']);
    const bad = await run(['agreement', 'sign', 'r3', '--by', 'user', '--by', 'boss']);
    expect(bad.code).toBe(2);
    const dry = await run(['agreement', 'sign', 'r3', '--by', 'user', '--by', 'supervisor', '--dry-run', '--json']);
    expect(dry.json().results[0]).toMatchObject({ outcome: 'would_renew', message: expect.stringMatching(/^would record the user and supervisor signatures \(\d{4}-\d\d-\d\d\); agreement complete/) });
    expect(await snapshot()).toEqual(before);
  });

  it('a refused first signature leaves no pending row behind', async () => {
    await seedUser(db.knex, { username: 'r2', createdAt: new Date('2026-06-01T00:00:00Z') });
    const before = await snapshot();
    expect((await run(['agreement', 'sign', 'r2', '--by', 'user', '--date', '2026-05-01'])).code).toBe(2);
    expect(await snapshot()).toEqual(before);
  });

  it('--dry-run says what would happen and changes nothing', async () => {
    await seedUser(db.knex, { username: 'dr', expiresAt: new Date('2027-03-01T00:00:00Z'), lockedAt: NOW, lockReason: 'agreement_expired' });
    const before = await snapshot();
    const r = await run(['agreement', 'sign', 'dr', '--by', 'user', '--dry-run', '--json']);
    expect(r.json().results[0].outcome).toBe('would_sign');
    expect(await snapshot()).toEqual(before);
  });

  it('parallel signatures by the same role record one; parallel last signatures renew once', async () => {
    await seedUser(db.knex, { username: 'race', expiresAt: new Date('2027-03-01T00:00:00Z'), lockedAt: NOW, lockReason: 'agreement_expired' });
    const same = await Promise.all(Array.from({ length: 5 }, () => run(['agreement', 'sign', 'race', '--by', 'user', '--json'])));
    expect(same.map((r) => r.code).sort()).toEqual([0, 2, 2, 2, 2]);
    expect(await count(db.knex('audit_log').where('action', 'agreement.sign'))).toBe(1);
    const last = await Promise.all([run(['agreement', 'sign', 'race', '--by', 'supervisor', '--json']), run(['agreement', 'sign', 'race', '--by', 'director', '--json'])]);
    expect(last.map((r) => r.json().results[0].outcome).sort()).toEqual(['renewed', 'signed']);
    expect(await count(db.knex('audit_log').where('action', 'agreement.renewed'))).toBe(1);
    expect((await row('race')).locked_at).toBeNull();
  });
});

describe('agreement show', () => {
  it('shows signatures, status, expiry, what is missing and the commands that record it', async () => {
    const agency = await seedAgency(db.knex);
    const sup = await seedUser(db.knex, { username: 'boss', agencyId: agency });
    await seedUser(db.knex, { username: 'jdoe', agencyId: agency, supervisorId: sup, expiresAt: new Date('2027-03-17T00:00:00Z') });
    await run(['agreement', 'sign', 'jdoe', '--by', 'user', '--date', '2027-03-08']);
    const r = await run(['agreement', 'show', 'JDOE', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toEqual({
      user: 'jdoe',
      status: 'pending',
      expiresAt: '2027-03-17T00:00:00.000Z',
      daysLeft: 7,
      termStartedAt: '2025-01-01T00:00:00.000Z',
      signatures: {
        user: { at: '2027-03-08T00:00:00.000Z', by: 'tester' },
        supervisor: { at: null, by: null },
        director: { at: null, by: null },
      },
      missingSignatures: ['supervisor', 'director'],
      lastRenewal: null,
      supervisor: 'boss (boss Test)',
      director: 'Denise Okafor',
      next: ['hmis-admin agreement sign jdoe --by supervisor', 'hmis-admin agreement sign jdoe --by director'],
    });
    const text = await run(['agreement', 'show', 'jdoe']);
    expect(text.stdout).toMatch(/missing\s+supervisor, director/);
    expect(text.stdout).toMatch(/hmis-admin agreement sign jdoe --by director/);
    expect((await run(['agreement', 'show', 'nobody'])).code).toBe(3);
  });
});

});
