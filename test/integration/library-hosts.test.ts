/** The library for the web application works on hmis-admin's own tables and says plainly that Devise does its work itself. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { confirmEmail, DeviseDoesThisError, recordLoginFailure, recordLoginSuccess, redeemResetToken } from '../../src/index.js';
import { openTestDb, type TestDb } from '../helpers/db.js';
import { seedUser } from '../helpers/lockout-seed.js';

let db: TestDb;
beforeAll(async () => {
  db = await openTestDb('devise');
  await seedUser(db.knex, { username: 'jdoe' });
});
afterAll(async () => db?.close());

it('on a Devise users table every library call refuses with DeviseDoesThisError naming what Devise does', async () => {
  const calls: Array<[string, () => Promise<unknown>, RegExp]> = [
    ['recordLoginFailure', () => recordLoginFailure(db.knex, 'jdoe'), /lockable counts failed_attempts/],
    ['recordLoginSuccess', () => recordLoginSuccess(db.knex, 'jdoe'), /lockable resets failed_attempts/],
    ['redeemResetToken', () => redeemResetToken(db.knex, 'x'.repeat(43)), /reset_password_by_token/],
    ['confirmEmail', () => confirmEmail(db.knex, 'x'.repeat(43)), /confirm_by_token/],
  ];
  for (const [name, call, what] of calls) {
    const err = await call().catch((e: unknown) => e);
    expect(err, name).toBeInstanceOf(DeviseDoesThisError);
    expect((err as Error).message).toMatch(new RegExp(`^${name}: .*Devise does this itself`));
    expect((err as Error).message).toMatch(what);
  }
  // Nothing was written: the host's own counter is untouched.
  expect((await db.knex('public.users').first('failed_attempts')).failed_attempts).toBe(0);
});
