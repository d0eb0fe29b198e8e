/** An administrator's lock stays locked: `lock` takes over any other lock, `unlock --all` leaves admin locks alone. */
import { describe, expect, it } from 'vitest';
import { unlockAccount } from '../../src/services/accounts/lockout.js';
import { when } from '../../src/output/format.js';
import { cli } from '../helpers/cli.js';
import type { TestDb } from '../helpers/db.js';
import { HOSTS, lockedCount, userRow } from '../helpers/hosts.js';
import { useHostDb } from '../helpers/host-suite.js';
import { count, mailDir, seedUser, serviceContext } from '../helpers/lockout-seed.js';

let db: TestDb;
let env: Record<string, string>;
const NOW = new Date('2027-03-10T15:00:00Z');
const clock = () => NOW;
const LOCKED = new Date('2027-03-09T10:00:00Z');

const run = (args: string[]) => cli(args, { database: db, env, clock });
const audits = (action: string) => count(db.knex('audit_log').where('action', action));
const user = (name: string) => userRow(db.knex, name);

describe.each(HOSTS)('on the %s host', (host) => {
useHostDb(host, (d) => {
  db = d;
  env = { ...d.env, HMIS_DATA_DIR: mailDir() };
});

describe('lock over another lock', () => {
  it.each(['failed_logins', 'agreement_expired'])('takes over a %s lock: reason admin, audited with the text, previous reason and ticket', async (before) => {
    await seedUser(db.knex, { username: 'jdoe', lockedAt: LOCKED, lockReason: before, failed: 3, expiresAt: new Date('2027-03-01T00:00:00Z') });
    const dry = await run(['lock', 'jdoe', '--reason', 'left the agency', '--dry-run', '--json']);
    expect(dry.json().results[0]).toMatchObject({ outcome: 'would_lock', message: expect.stringContaining(`replaces the ${before} lock`) });
    expect((await user('jdoe')).lock_reason).toBe(before);
    const r = await run(['lock', 'jdoe', '--reason', 'left the agency', '--ticket', 'HD-5', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().results[0]).toMatchObject({ outcome: 'locked', message: expect.stringMatching(new RegExp(`^by an administrator: left the agency \\(replaces the ${before} lock`)) });
    const u = await user('jdoe');
    expect([u.lock_reason, u.locked_at, u.failed_login_attempts]).toEqual(['admin', NOW.toISOString(), 3]);
    const a = await db.knex('audit_log').where('action', 'lock').first();
    expect({ ...a, user_id: Number(a.user_id) }).toMatchObject({ actor: 'tester', ticket: 'HD-5', user_id: u.id }); // bigint on devise (as the host's ids)
    expect(typeof a.details === 'string' ? JSON.parse(a.details) : a.details).toEqual({
      reason: 'admin',
      note: 'left the agency',
      previousReason: before,
      previousLockedAt: LOCKED.toISOString(),
    });
    // The bulk unlock of the old reason no longer reopens the account.
    const bulk = await run(['unlock', '--all', '--reason', before, '--yes', '--json']);
    expect(bulk.json().results).toEqual([]);
    expect((await user('jdoe')).lock_reason).toBe('admin');
    expect(await audits('unlock')).toBe(0);
  });

  it('on an account an administrator already locked changes nothing and says so (exit 0, no audit row)', async () => {
    await seedUser(db.knex, { username: 'gone', lockedAt: LOCKED, lockReason: 'admin' });
    for (const args of [['--json'], ['--dry-run', '--json']]) {
      const r = await run(['lock', 'gone', '--reason', 'left again', ...args]);
      expect(r.code).toBe(0);
      expect(r.json().results[0]).toMatchObject({ outcome: 'locked', message: `already locked by an administrator since ${when(LOCKED)}; nothing changed` });
    }
    expect((await user('gone')).locked_at).toBe(LOCKED.toISOString());
    expect(await count(db.knex('audit_log'))).toBe(0);
  });

});

describe('unlock --all and admin locks', () => {
  it('leaves admin locks alone unless --reason admin, and counts what it skipped (stderr and JSON)', async () => {
    await seedUser(db.knex, { username: 'f1', lockedAt: LOCKED, lockReason: 'failed_logins', failed: 3 });
    await seedUser(db.knex, { username: 'gone1', lockedAt: LOCKED, lockReason: 'admin' });
    await seedUser(db.knex, { username: 'gone2', lockedAt: LOCKED, lockReason: 'admin' });
    await seedUser(db.knex, { username: 'exp', lockedAt: LOCKED, lockReason: 'agreement_expired' });
    const dry = await run(['unlock', '--all', '--dry-run', '--json']);
    expect(dry.json().results.map((x: { user: string }) => x.user)).toEqual(['f1']);
    const r = await run(['unlock', '--all', '--yes', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const body = r.json();
    expect(body.results.map((x: { user: string; outcome: string }) => [x.user, x.outcome])).toEqual([['f1', 'unlocked']]);
    expect(body.skipped).toEqual({ agreement_expired: 1, admin: 2 });
    expect(r.stderr).toMatch(/2 account\(s\) locked by an administrator were left alone; unlock them by name, or with `--all --reason admin`/);
    expect((await user('gone1')).lock_reason).toBe('admin');
    const admins = await run(['unlock', '--all', '--reason', 'admin', '--yes', '--json']);
    expect(admins.json().results.map((x: { user: string; outcome: string }) => [x.user, x.outcome])).toEqual([['gone1', 'unlocked'], ['gone2', 'unlocked']]);
    expect(admins.json().skipped).toEqual({ agreement_expired: 0, admin: 0 });
    expect(await lockedCount(db.knex)).toBe(1);
  });

  it('an account an administrator locks while the bulk run goes is left locked and reported', async () => {
    await seedUser(db.knex, { username: 'f1', lockedAt: LOCKED, lockReason: 'failed_logins', failed: 3 });
    const row = await user('f1'); // chosen by the run as failed_logins ...
    expect((await run(['lock', 'f1', '--reason', 'left the agency'])).code).toBe(0); // ... then locked by an administrator
    const ctx = serviceContext(db, env, clock);
    for (const only of [{}, { reason: 'failed_logins' as const }]) {
      const r = await unlockAccount(ctx, row, { only });
      expect(r).toMatchObject({ user: 'f1', outcome: 'refused' });
      expect((await user('f1')).lock_reason).toBe('admin');
    }
    expect((await unlockAccount(ctx, row, {})).outcome).toBe('unlocked'); // by name it may be unlocked
  });
});

});
