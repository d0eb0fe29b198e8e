/**
 * Notices and reminders go only to valid addresses: a stored "victim@agency.org, attacker@evil.example"
 * (users.email or agencies.executive_director_email) never becomes two recipients. Invalid ones are left
 * out and the outcome says so; with no valid recipient left nothing is sent.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import type { TestDb } from '../helpers/db.js';
import { HOSTS, updateAccount } from '../helpers/hosts.js';
import { useHostDb } from '../helpers/host-suite.js';
import { count, seedAgency, seedUser } from '../helpers/lockout-seed.js';
import { startRelay, type TestRelay } from '../helpers/smtp.js';

const HOSTILE = 'victim@agency.org, attacker@evil.example';
const NOW = new Date('2027-03-10T15:00:00Z');
const LOCKED = new Date('2027-03-09T10:00:00Z');
let db: TestDb;
let relay: TestRelay;

const run = (args: string[]) => cli(args, { database: db, env: { ...db.env, HMIS_SITE_URL: 'https://hmis.test.example.org', HMIS_SMTP_URL: relay.url, HMIS_MAIL_FROM: 'hmis@harbor.example.org' }, clock: () => NOW });
const recipients = () => relay.received.flatMap((m) => m.to);

describe.each(HOSTS)('on the %s host', (host) => {
useHostDb(host, (d) => {
  db = d;
});
beforeEach(async () => {
  relay = await startRelay();
});
afterEach(async () => relay.close());

describe('notice recipients are validated', () => {
  it('unlock --notify with a hostile users.email: unlocked, nothing sent, the outcome says why', async () => {
    await seedUser(db.knex, { username: 'vic', email: HOSTILE, lockedAt: LOCKED, lockReason: 'failed_logins', failed: 3 });
    const r = await run(['unlock', 'vic', '--notify', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const [res] = r.json().results;
    expect(res.outcome).toBe('unlocked');
    expect(res.message).toMatch(/notice failed \(not sent: no valid recipient \(the to address "victim@agency\.org, attacker@evil\.example" holds more than one address/);
    expect(relay.received).toHaveLength(0);
    const row = await db.knex('mail_outbox').first();
    expect(row.status).toBe('failed');
    expect(row.attempts).toBe(0);
    // `outbox flush` never picks it up either.
    expect((await run(['outbox', 'flush', '--json'])).json().results).toEqual([]);
    expect(relay.received).toHaveLength(0);
  });

  it('bulk unlock --notify reports the notice it could not send next to the ones it sent', async () => {
    await seedUser(db.knex, { username: 'ok1', lockedAt: LOCKED, lockReason: 'failed_logins' });
    await seedUser(db.knex, { username: 'bad1', email: 'a@b.org\r\nBcc: attacker@evil.example', lockedAt: LOCKED, lockReason: 'failed_logins' });
    const r = await run(['unlock', '--all', '--notify', '--yes', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const by = Object.fromEntries(r.json().results.map((x: { user: string; message: string }) => [x.user, x.message]));
    expect(by.ok1).toMatch(/; notice sent$/);
    expect(by.bad1).toMatch(/notice failed \(not sent: no valid recipient .*control characters/);
    expect(recipients()).toEqual(['ok1@harbor.example.org']);
  });

  it('expire: a hostile user address is left out, the supervisor is still told, and the outcome names what was left out', async () => {
    const boss = await seedUser(db.knex, { username: 'boss', email: 'boss@harbor.example.org', expiresAt: new Date('2029-01-01T00:00:00Z') });
    await seedUser(db.knex, { username: 'vic', email: HOSTILE, expiresAt: new Date('2027-03-01T00:00:00Z'), supervisorId: boss });
    const r = await run(['expire', '--yes', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const [res] = r.json().results;
    expect(res).toMatchObject({ user: 'vic', outcome: 'expired' });
    expect(res.message).toMatch(/notice sent; not sent to the to address "victim@agency\.org, attacker@evil\.example" holds more than one address/);
    expect(recipients()).toEqual(['boss@harbor.example.org']);
    const row = await db.knex('mail_outbox').first();
    expect(row.to_address).toBe('boss@harbor.example.org');
    expect(typeof row.cc === 'string' ? JSON.parse(row.cc) : row.cc).toEqual([]);
  });

  it('expiring --notify: a hostile Executive Director address is not copied; the user and supervisor get the reminder', async () => {
    const agency = await seedAgency(db.knex, 'Harbor', HOSTILE);
    const boss = await seedUser(db.knex, { username: 'boss', email: 'boss@harbor.example.org', agencyId: agency, expiresAt: new Date('2029-01-01T00:00:00Z') });
    await seedUser(db.knex, { username: 'jdoe', agencyId: agency, supervisorId: boss, expiresAt: new Date('2027-03-17T00:00:00Z') });
    const r = await run(['expiring', '--notify', '--yes', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const [res] = r.json().results;
    expect(res).toMatchObject({ user: 'jdoe', outcome: 'sent' });
    expect(res.message).toMatch(/reminder sent; not sent to the cc address "victim@agency\.org, attacker@evil\.example" holds more than one address/);
    expect(recipients().sort()).toEqual(['boss@harbor.example.org', 'jdoe@harbor.example.org']);
    expect(recipients().join(' ')).not.toContain('evil.example');
  });

  it('expiring --notify with nobody validly addressable records no stage, so it goes out once the address is fixed', async () => {
    const agency = await seedAgency(db.knex, 'Harbor', HOSTILE);
    await seedUser(db.knex, { username: 'vic', email: HOSTILE, agencyId: agency, expiresAt: new Date('2027-03-17T00:00:00Z') });
    const first = await run(['expiring', '--notify', '--yes', '--json']);
    expect(first.json().results[0]).toMatchObject({ user: 'vic', outcome: 'failed', message: expect.stringMatching(/no valid email address/) });
    expect(await count(db.knex('agreement_reminders'))).toBe(0);
    await updateAccount(db.knex, 'vic', { email: 'vic@harbor.example.org' });
    const second = await run(['expiring', '--notify', '--yes', '--json']);
    expect(second.json().results[0]).toMatchObject({ user: 'vic', outcome: 'sent' });
    expect(recipients()).toEqual(['vic@harbor.example.org']);
  });

  it('agreement renewal with a hostile address: renewed, no notice sent, the outcome says why', async () => {
    const agency = await seedAgency(db.knex);
    await seedUser(db.knex, { username: 'vic', email: HOSTILE, agencyId: agency, expiresAt: new Date('2027-03-01T00:00:00Z'), lockedAt: LOCKED, lockReason: 'agreement_expired' });
    for (const by of ['user', 'supervisor']) expect((await run(['agreement', 'sign', 'vic', '--by', by])).code).toBe(0);
    const r = await run(['agreement', 'sign', 'vic', '--by', 'director', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const [res] = r.json().results;
    expect(res.outcome).toBe('renewed');
    expect(res.message).toMatch(/notice failed \(not sent: no valid recipient/);
    expect(relay.received).toHaveLength(0);
    expect(await count(db.knex('mail_outbox').where('status', 'failed'))).toBe(1);
  });

  it('the outbox itself refuses a queued row whose stored to or cc is not one plain address', async () => {
    const body = { text: 'x', html: '<p>x</p>' };
    const { enqueueMail } = await import('../../src/mail/outbox.js');
    const bad = await enqueueMail(db.knex, { kind: 'notice', to: HOSTILE, subject: 'S', ...body });
    const badCc = await enqueueMail(db.knex, { kind: 'notice', to: 'ok@agency.org', cc: [HOSTILE], subject: 'S', ...body });
    const r = await run(['outbox', 'flush', '--json']);
    expect(r.code).toBe(4);
    expect(r.json().results.map((x: { outcome: string }) => x.outcome)).toEqual(['failed', 'failed']);
    expect(relay.received).toHaveLength(0);
    const rows = await db.knex('mail_outbox').whereIn('id', [bad, badCc]).orderBy('id');
    expect(rows.map((x) => x.last_error)).toEqual([
      expect.stringMatching(/^the to address "victim@agency\.org, attacker@evil\.example" holds more than one address.*; nothing was sent$/),
      expect.stringMatching(/^the cc address "victim@agency\.org, attacker@evil\.example" holds more than one address.*; nothing was sent$/),
    ]);
  });
});

});
