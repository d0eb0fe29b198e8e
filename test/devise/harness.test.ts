/**
 * The Devise harness proves itself, and states the contract a devise-mode store must meet: what hmis-admin
 * writes with plain SQL (the columns CONTRACT.md names) is what the web application's own Devise code
 * honours when the person signs in, follows a reset link or confirms an address.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { deviseDigest, friendlyToken, type DeviseSecret } from '../../src/store/devise/token.js';
import { createDeviseDatabase, describeDevise, startDevise, type DeviseApp, type DeviseDatabase } from '../helpers/devise.js';

const secret = 'a'.repeat(128); // CONTRACT's known-answer secret
const KNOWN = { sha1: '5c566f7ce19d408b8302fc55eca9f6b339f2a009e4c827a3245047a699ba0a04', sha256: '165731e18e6149560fb0ca4df385f0dfe6825d466e13524058959f28ae76dfd8' };
const site = 'https://hmis.example.org';
const password = 'correct-horse-battery';
const utcNow = "(now() at time zone 'utc')"; // the columns are timestamp without time zone, holding UTC

describeDevise('Devise 4.8 application on an OpenPath-shaped users table', () => {
  let db: DeviseDatabase;
  let app: DeviseApp;
  const sha1: DeviseSecret = { secret, keyDigest: 'sha1' };
  const set = (email: string, sql: string, ...bindings: Array<string | number | boolean | null>) => db.knex.raw(`update users set ${sql} where email = ?`, [...bindings, email]);

  beforeAll(async () => {
    db = await createDeviseDatabase();
    app = await startDevise(db.url, { secret, maximumAttempts: 5 });
    console.info(`[devise] Devise ${app.info.devise} on Rails ${app.info.rails} started in ${app.startupMs} ms`);
  });
  afterAll(async () => {
    await app?.stop();
    await db?.drop();
  });

  it('runs with the settings it was given, OpenPath defaults otherwise', () => {
    expect(app.info).toMatchObject({ key_digest: 'sha1', maximum_attempts: 5, unlock_strategy: 'both', unlock_in: 3600, reset_password_within: 21600, confirm_within: 86400, reconfirmable: true });
    expect(app.info.devise).toMatch(/^4\.[89]\./);
  });

  it('counts failed logins and locks at maximum_attempts; the unlock_access! columns written in SQL let the person in', async () => {
    await app.createUser({ email: 'ann@example.org', password, first_name: 'Ann', agency: 'Shelter' });
    expect(await app.failLogin('ann@example.org', 4)).toMatchObject({ ok: false, reason: 'invalid', message: 'last_attempt', failed_attempts: 4 });
    expect(await app.failLogin('ann@example.org')).toMatchObject({ ok: false, reason: 'locked', failed_attempts: 5 });
    const locked = (await app.user('ann@example.org'))!;
    expect(locked.locked_at).not.toBeNull();
    expect(locked.unlock_token).toMatch(/^[0-9a-f]{64}$/); // unlock_strategy :both also mails an unlock link
    expect(locked.devise.access_locked).toBe(true);
    expect(await app.signIn('ann@example.org', password)).toMatchObject({ ok: false, reason: 'locked' });

    await set('ann@example.org', 'locked_at = null, failed_attempts = 0, unlock_token = null');
    expect(await app.signIn('ann@example.org', password)).toMatchObject({ ok: true });
    expect(await app.user('ann@example.org')).toMatchObject({ failed_attempts: 0, sign_in_count: 1 });
  });

  it('treats a lock older than unlock_in as over (time strategy), and a younger one as still on', async () => {
    await app.createUser({ email: 'bob@example.org', password });
    await app.failLogin('bob@example.org', 5);
    await set('bob@example.org', `locked_at = ${utcNow} - interval '59 minutes'`);
    expect(await app.signIn('bob@example.org', password)).toMatchObject({ ok: false, reason: 'locked' });
    await set('bob@example.org', `locked_at = ${utcNow} - interval '61 minutes'`);
    expect((await app.user('bob@example.org'))!.devise.access_locked).toBe(false);
    expect(await app.signIn('bob@example.org', password)).toMatchObject({ ok: true });
    expect(await app.user('bob@example.org')).toMatchObject({ locked_at: null, failed_attempts: 0 });
  });

  it('redeems a reset link whose digest was written with SQL exactly once, and then the new password works', async () => {
    await app.createUser({ email: 'cara@example.org', password });
    await app.failLogin('cara@example.org', 5);
    const raw = friendlyToken();
    await set('cara@example.org', `reset_password_token = ?, reset_password_sent_at = ${utcNow}`, deviseDigest(sha1, 'reset_password_token', raw));
    const url = `${site}/users/password/edit?reset_password_token=${raw}`;
    expect(await app.resetPassword({ url }, 'a-brand-new-password')).toMatchObject({ ok: true });
    expect(await app.resetPassword({ url }, 'yet-another-password')).toMatchObject({ ok: false, errors: { reset_password_token: ['is invalid'] } });
    // With unlock_strategy :both (OpenPath), Devise's PasswordsController also lifts a failed-login lock.
    expect(await app.user('cara@example.org')).toMatchObject({ reset_password_token: null, locked_at: null, failed_attempts: 0 });
    expect(await app.signIn('cara@example.org', 'a-brand-new-password')).toMatchObject({ ok: true });
  });

  it('refuses a reset token sent longer ago than reset_password_within', async () => {
    await app.createUser({ email: 'dev@example.org', password });
    const raw = friendlyToken();
    await set('dev@example.org', `reset_password_token = ?, reset_password_sent_at = ${utcNow} - interval '6 hours 1 minute'`, deviseDigest(sha1, 'reset_password_token', raw));
    const answer = await app.resetPassword({ token: raw }, 'a-brand-new-password');
    expect(answer).toMatchObject({ ok: false, errors: { reset_password_token: [expect.stringMatching(/expired/)] } });
  });

  it('digests exactly as the TypeScript does: known answer, random tokens, and its own reset mail', async () => {
    expect(await app.digest('reset_password_token', 'abcDEF123ghiJKL456mn')).toBe(KNOWN.sha1);
    for (const column of ['reset_password_token', 'unlock_token'] as const) {
      const raw = friendlyToken();
      expect(await app.digest(column, raw)).toBe(deviseDigest(sha1, column, raw));
    }
    await app.createUser({ email: 'eve@example.org', password });
    const mail = await app.sendReset('eve@example.org');
    expect(mail.url).toBe(`${site}/users/password/edit?reset_password_token=${mail.token}`);
    expect(mail.token).toMatch(/^[A-Za-z0-9_-]{20}$/);
    expect((await app.user('eve@example.org'))!.reset_password_token).toBe(deviseDigest(sha1, 'reset_password_token', mail.token));
  });

  it('confirms an address change staged with SQL (unconfirmed_email + raw confirmation_token) and moves the address', async () => {
    await app.createUser({ email: 'fay@example.org', password });
    const raw = friendlyToken();
    await set('fay@example.org', `unconfirmed_email = ?, confirmation_token = ?, confirmation_sent_at = ${utcNow}`, 'fay.new@example.org', raw);
    expect((await app.user('fay@example.org'))!.devise.pending_reconfirmation).toBe(true);
    expect(await app.signIn('fay@example.org', password)).toMatchObject({ ok: true }); // the old address works until then
    expect(await app.confirm({ url: `${site}/users/confirmation?confirmation_token=${raw}` })).toMatchObject({ ok: true });
    expect(await app.user('fay.new@example.org')).toMatchObject({ email: 'fay.new@example.org', unconfirmed_email: null });
    expect(await app.signIn('fay.new@example.org', password)).toMatchObject({ ok: true });
    expect(await app.confirm({ token: raw })).toMatchObject({ ok: false, errors: { email: [expect.stringMatching(/already confirmed/)] } });
  });

  it('refuses sign-in while active = false and forgets rows with deleted_at set; unconfirmed accounts wait', async () => {
    await app.createUser({ email: 'gus@example.org', password });
    await set('gus@example.org', 'active = false');
    expect(await app.signIn('gus@example.org', password)).toMatchObject({ ok: false, reason: 'inactive' });
    await set('gus@example.org', 'active = true');
    expect(await app.signIn('gus@example.org', password)).toMatchObject({ ok: true });

    const raw = friendlyToken();
    await set('gus@example.org', `deleted_at = ${utcNow}, reset_password_token = ?, reset_password_sent_at = ${utcNow}`, deviseDigest(sha1, 'reset_password_token', raw));
    expect(await app.signIn('gus@example.org', password)).toMatchObject({ ok: false, reason: 'invalid', message: 'not_found_in_database' });
    expect(await app.resetPassword({ token: raw }, 'a-brand-new-password')).toMatchObject({ ok: false, errors: { reset_password_token: ['is invalid'] } });

    await app.createUser({ email: 'hal@example.org', password, confirmed: false });
    expect(await app.signIn('hal@example.org', password)).toMatchObject({ ok: false, reason: 'unconfirmed' });
  });
});

describeDevise('Devise with a SHA-256 key generator (Rails 7+ apps that choose it before Devise starts)', () => {
  let db: DeviseDatabase;
  let app: DeviseApp;
  const sha256: DeviseSecret = { secret, keyDigest: 'sha256' };

  beforeAll(async () => {
    db = await createDeviseDatabase();
    app = await startDevise(db.url, { secret, keyDigest: 'sha256' });
  });
  afterAll(async () => {
    await app?.stop();
    await db?.drop();
  });

  it('agrees with the TypeScript digest, and refuses a token digested with the wrong key digest', async () => {
    expect(app.info.key_digest).toBe('sha256');
    expect(await app.digest('reset_password_token', 'abcDEF123ghiJKL456mn')).toBe(KNOWN.sha256);
    const raw = friendlyToken();
    expect(await app.digest('reset_password_token', raw)).toBe(deviseDigest(sha256, 'reset_password_token', raw));

    await app.createUser({ email: 'ida@example.org', password });
    const write = (digest: string) =>
      db.knex.raw(`update users set reset_password_token = ?, reset_password_sent_at = ${utcNow} where email = 'ida@example.org'`, [digest]);
    await write(deviseDigest({ secret, keyDigest: 'sha1' }, 'reset_password_token', raw));
    expect(await app.resetPassword({ token: raw }, 'a-brand-new-password')).toMatchObject({ ok: false });
    await write(deviseDigest(sha256, 'reset_password_token', raw));
    expect(await app.resetPassword({ token: raw }, 'a-brand-new-password')).toMatchObject({ ok: true });
  });
});
