/**
 * confirmEmail against a concurrent `email set`: both lock the account row first, so they never deadlock,
 * no database error reaches the web application, and no address is ever verified that was not confirmed.
 *
 * Native only: confirmEmail is the library call a native host's web application makes; on a Devise host the
 * application confirms with Devise's confirm_by_token and confirmEmail refuses (library-hosts.test.ts), so there is
 * no hmis-admin confirm to race (test/devise/openpath.test.ts confirms a changed address with Devise itself).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NativeStore } from '../../src/store/native/index.js';
import { confirmEmail, type ConfirmResult } from '../../src/services/email/email.js';
import { setEmail } from '../../src/services/email/email.js';
import { newToken } from '../../src/services/links/tokens.js';
import { onServer, openTestDb, type TestDb } from '../helpers/db.js';
import { seedUsers } from '../helpers/links.js';
import { mailDir, serviceContext } from '../helpers/lockout-seed.js';

let db: TestDb;
const ROUNDS = 30;
const PER_ROUND = 8;

beforeAll(async () => {
  db = await openTestDb();
});
afterAll(async () => db?.close());

describe('confirmEmail vs email set', () => {
  it(`${ROUNDS} concurrent confirm-vs-set races: no thrown error, never a wrong verified address`, async () => {
    const ctx = serviceContext(db, { HMIS_DATA_DIR: mailDir() });
    const ids = Object.values(await seedUsers(db.knex, Array.from({ length: ROUNDS }, (_, i) => ({ username: `race${i}`, verified: false }))));
    const now = new Date();
    for (const [i, id] of ids.entries()) {
      // Several open links per account widen the window in which a confirm holds a token while the set
      // holds the account: with the old lock order (token, then account) that deadlocked (40P01).
      const tokens = Array.from({ length: PER_ROUND }, () => newToken());
      await db.knex('email_verification_tokens').insert(
        tokens.map((t) => ({ user_id: id, email: `race${i}@agency.test.example.org`, token_hash: t.hash, created_at: now, expires_at: new Date(now.getTime() + 3_600_000) })),
      );
      const account = (await new NativeStore(db.knex, () => new Date()).findById(id))!;
      const settled = await Promise.allSettled<ConfirmResult | unknown>([
        setEmail(ctx, account, `moved${i}@agency.test.example.org`, {}),
        ...tokens.map((t) => confirmEmail(db.knex, t.raw)),
      ]);
      const errors = settled.filter((s) => s.status === 'rejected').map((s) => String((s as PromiseRejectedResult).reason));
      expect(errors, `round ${i}`).toEqual([]);
      const confirms = settled.slice(1).map((s) => (s as PromiseFulfilledResult<ConfirmResult>).value);
      const row = (await new NativeStore(db.knex, () => new Date()).findById(id))!;
      // The set always lands (it changes the address); the new address was never confirmed.
      expect(row.email).toBe(`moved${i}@agency.test.example.org`);
      expect(row.email_verified_at).toBeNull();
      const won = confirms.filter((c) => c.ok);
      expect(won.length).toBeLessThanOrEqual(1);
      for (const c of won) expect(c).toMatchObject({ email: `race${i}@agency.test.example.org` });
      for (const c of confirms) if (!c.ok) expect(['revoked', 'email_changed']).toContain(c.reason);
      const audit = (await db.knex('audit_log').where({ user_id: id, action: 'email.confirmed' }).count({ n: '*' }))[0] as { n: number | string };
      expect(Number(audit.n)).toBe(won.length);
    }
    if (onServer) expect(db.kind).toBe('postgres');
  });

  it('a confirm that wins leaves the address verified until the next change', async () => {
    const [id] = Object.values(await seedUsers(db.knex, [{ username: 'solo', verified: false }]));
    const { raw, hash } = newToken();
    const now = new Date();
    await db.knex('email_verification_tokens').insert({ user_id: id, email: 'solo@agency.test.example.org', token_hash: hash, created_at: now, expires_at: new Date(now.getTime() + 60_000) });
    expect(await confirmEmail(db.knex, raw)).toEqual({ ok: true, userId: id, username: 'solo', email: 'solo@agency.test.example.org' });
    expect((await new NativeStore(db.knex, () => new Date()).findById(id!))!.email_verified_at).not.toBeNull();
    expect(await confirmEmail(db.knex, raw)).toEqual({ ok: false, reason: 'used' });
  });
});
