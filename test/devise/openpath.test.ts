/**
 * hmis-admin (the built binary) against a Devise application's own database, proven by that application:
 * Devise counts failed logins and locks, hmis-admin lists and unlocks, and Devise lets the person sign in;
 * hmis-admin's reset link is redeemed once by Devise's reset_password_by_token and refused after; an address
 * hmis-admin changes is confirmed by Devise's confirm_by_token; a leaver hmis-admin locks cannot sign in.
 * Through all of it, the host's schema (pg_dump --schema-only --schema=public) never changes.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { spawnCli } from '../helpers/cli.js';
import { createDeviseDatabase, describeDevise, startDevise, type DeviseApp, type DeviseDatabase } from '../helpers/devise.js';
import { sandboxEnv, testRoot } from '../helpers/paths.js';
import { startRelay, type TestRelay } from '../helpers/smtp.js';

const secret = 'a'.repeat(128);
const password = 'correct-horse-battery';
const SITE = 'https://hmis.example.org';

describeDevise('hmis-admin on an OpenPath HMIS database, proven by Devise', () => {
  let db: DeviseDatabase;
  let app: DeviseApp;
  let relay: TestRelay;
  let env: Record<string, string>;
  let schemaBefore: string;
  const hmis = (...args: string[]) => spawnCli(args, env);
  const dump = () => {
    const r = spawnSync('pg_dump', ['--schema-only', '--schema=public', '--no-owner', db.url], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`pg_dump failed: ${r.stderr}`);
    // pg_dump ≥ 15.14 frames its output with a random \restrict key: not part of the schema.
    return r.stdout.replace(/^\\(un)?restrict .*$/gm, '');
  };
  /** The text of the newest message the relay accepted for `to`. */
  const lastMailTo = async (to: string) => {
    const m = [...relay.received].reverse().find((r) => r.to.includes(to));
    if (!m) throw new Error(`no mail to ${to}`);
    return (await simpleParser(m.raw)).text ?? '';
  };

  beforeAll(async () => {
    db = await createDeviseDatabase();
    app = await startDevise(db.url, { secret });
    relay = await startRelay();
    const dir = mkdtempSync(join(testRoot, 'devise-secret-'));
    const secretFile = join(dir, 'secret_key_base');
    writeFileSync(secretFile, `${secret}\n`);
    chmodSync(secretFile, 0o600);
    env = {
      ...sandboxEnv(),
      HMIS_DATABASE_URL: db.url,
      HMIS_SCHEMA: 'devise',
      HMIS_DEVISE_SECRET_FILE: secretFile,
      HMIS_SITE_URL: SITE,
      HMIS_SMTP_URL: relay.url,
      HMIS_MAIL_FROM: 'HMIS Support <no-reply@hmis.example.org>',
    };
    schemaBefore = dump();
  });
  afterAll(async () => {
    await app?.stop();
    await relay?.close();
    await db?.drop();
  });

  it('db migrate creates only hmis_admin; db status names the host table, its features and the settings', async () => {
    const m = await hmis('db', 'migrate', '--json');
    expect(m.code, m.stderr).toBe(0);
    expect(m.json()).toMatchObject({ schema: 'devise', pending: [], host: { table: 'public.users', missing: [] } });
    const s = await hmis('db', 'status', '--json');
    expect(s.json().host.optional).toMatchObject({ names: true, phone: true, agency: true, activeFlag: true, confirmable: true, softDelete: true });
    expect(s.json().host.settings).toMatchObject({ HMIS_DEVISE_LOGIN: 'email', HMIS_DEVISE_SECRET: 'set', HMIS_UNLOCK_AFTER: '60m' });
    expect(JSON.stringify(s.json())).not.toContain(secret);
    const tables = await db.knex.raw("select table_schema, table_name from information_schema.tables where table_schema in ('public', 'hmis_admin') order by 1, 2");
    expect(tables.rows.filter((r: { table_schema: string }) => r.table_schema === 'public').map((r: { table_name: string }) => r.table_name)).toEqual(['agencies', 'users']);
    expect(dump()).toBe(schemaBefore);
  });

  it('Devise locks after maximum_attempts; hmis-admin lists the lock and unlocks it; Devise lets the person in', async () => {
    await app.createUser({ email: 'ann@example.org', password, first_name: 'Ann', last_name: 'Lee', agency: 'Harbor Light Shelter' });
    expect(await app.failLogin('ann@example.org', 20)).toMatchObject({ ok: false, reason: 'locked' });
    const locked = await hmis('locked', '--json');
    expect(locked.json()).toEqual([expect.objectContaining({ username: 'ann@example.org', name: 'Ann Lee', agency: 'Harbor Light Shelter', locked: true, lockReason: 'failed_logins', failedLoginAttempts: 20 })]);
    const u = await hmis('unlock', 'ann@example.org', '--ticket', 'HD-1', '--json');
    expect(u.code, u.stderr).toBe(0);
    expect(u.json().results[0]).toMatchObject({ outcome: 'unlocked' });
    expect(await app.user('ann@example.org')).toMatchObject({ locked_at: null, failed_attempts: 0, unlock_token: null });
    expect(await app.signIn('ann@example.org', password)).toMatchObject({ ok: true });
    expect((await hmis('locked', '--json')).json()).toEqual([]);
  });

  it("hmis-admin's reset link is taken once by Devise's reset_password_by_token and refused after", async () => {
    await app.createUser({ email: 'bob@example.org', password });
    const sent = await hmis('reset', 'send', 'bob@example.org', '--json');
    expect(sent.code, sent.stderr).toBe(0);
    expect(sent.json().results[0]).toMatchObject({ outcome: 'sent' });
    const link = /https:\/\/\S+reset_password_token=[\w-]+/.exec(await lastMailTo('bob@example.org'))?.[0];
    expect(link).toMatch(new RegExp(`^${SITE}/users/password/edit\\?reset_password_token=[\\w-]{20}$`));
    expect((await hmis('reset', 'check', link!, '--json')).json()).toMatchObject({ valid: true, user: 'bob@example.org' });
    expect(await app.resetPassword({ url: link! }, 'a-brand-new-password')).toMatchObject({ ok: true });
    expect(await app.signIn('bob@example.org', 'a-brand-new-password')).toMatchObject({ ok: true });
    expect(await app.resetPassword({ url: link! }, 'yet-another-password')).toMatchObject({ ok: false });
    const after = await hmis('reset', 'check', link!, '--json');
    expect([after.code, after.json().reason]).toEqual([5, 'used']);
    // The raw token was never stored: only Devise's digest is in the host's column and in hmis_admin's history.
    const token = new URL(link!).searchParams.get('reset_password_token')!;
    const everything = await db.knex.raw('select (select json_agg(t) from hmis_admin.password_reset_tokens t)::text || (select json_agg(o) from hmis_admin.mail_outbox o)::text || (select json_agg(a) from hmis_admin.audit_log a)::text as all');
    expect(everything.rows[0].all).not.toContain(token);
  });

  it('a link the web application sent itself is replaced by a newer hmis-admin link (one live link per user)', async () => {
    await app.createUser({ email: 'cid@example.org', password });
    const own = await app.sendReset('cid@example.org');
    expect((await hmis('reset', 'check', own.url, '--json')).json()).toMatchObject({ valid: true, detail: expect.stringMatching(/web application sent itself/) });
    expect((await hmis('reset', 'send', 'cid@example.org', '--json')).code).toBe(0);
    expect(await app.resetPassword({ url: own.url }, 'a-brand-new-password')).toMatchObject({ ok: false });
  });

  it("an address hmis-admin changes waits for the person and is confirmed by Devise's confirm_by_token", async () => {
    await app.createUser({ email: 'carol@example.org', password, first_name: 'Carol' });
    const r = await hmis('email', 'set', 'carol@example.org', 'carol.new@example.org', '--ticket', 'HD-2', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().results[0].message).toMatch(/waits for confirmation/);
    expect(await app.user('carol@example.org')).toMatchObject({ email: 'carol@example.org', unconfirmed_email: 'carol.new@example.org' });
    const link = /https:\/\/\S+confirmation_token=[\w-]+/.exec(await lastMailTo('carol.new@example.org'))?.[0];
    expect(link).toMatch(new RegExp(`^${SITE}/users/confirmation\\?confirmation_token=`));
    expect(await lastMailTo('carol@example.org')).toMatch(/asked to change the email address/);
    expect(await app.confirm({ url: link! })).toMatchObject({ ok: true });
    expect(await app.user({ id: (await app.user('carol.new@example.org'))!.id })).toMatchObject({ email: 'carol.new@example.org', unconfirmed_email: null });
    const shown = await hmis('users', 'show', 'carol.new@example.org', '--json');
    expect(shown.json().account).toMatchObject({ email: 'carol.new@example.org', emailVerified: true });
  });

  it('a leaver hmis-admin locks cannot sign in; unlocking by name lets them back', async () => {
    await app.createUser({ email: 'dave@example.org', password });
    const l = await hmis('lock', 'dave@example.org', '--reason', 'left the agency', '--json');
    expect(l.code, l.stderr).toBe(0);
    expect(await app.signIn('dave@example.org', password)).toMatchObject({ ok: false, reason: 'inactive' });
    expect((await hmis('locked', '--reason', 'admin', '--json')).json()).toEqual([expect.objectContaining({ username: 'dave@example.org', lockReason: 'admin' })]);
    // unlock --all leaves an administrator's lock alone.
    expect((await hmis('unlock', '--all', '--yes', '--json')).json().results).toEqual([]);
    expect(await app.signIn('dave@example.org', password)).toMatchObject({ ok: false, reason: 'inactive' });
    expect((await hmis('unlock', 'dave@example.org', '--json')).json().results[0]).toMatchObject({ outcome: 'unlocked' });
    expect(await app.signIn('dave@example.org', password)).toMatchObject({ ok: true });
  });

  it('an expired agreement locks through the active flag; the third signature opens the account again', async () => {
    const erin = await app.createUser({ email: 'erin@example.org', password });
    await db.knex('hmis_admin.account_state').insert({ user_id: erin.id, expires_at: new Date(Date.now() - 86_400_000) });
    const e = await hmis('expire', '--yes', '--json');
    expect(e.code, e.stderr).toBe(0);
    expect(e.json().results).toEqual([expect.objectContaining({ user: 'erin@example.org', outcome: 'expired' })]);
    expect(await app.signIn('erin@example.org', password)).toMatchObject({ ok: false, reason: 'inactive' });
    const s = await hmis('agreement', 'sign', 'erin@example.org', '--by', 'user', '--by', 'supervisor', '--by', 'director', '--json');
    expect(s.code, s.stderr).toBe(0);
    expect(s.json().results[0]).toMatchObject({ outcome: 'renewed' });
    expect(await app.signIn('erin@example.org', password)).toMatchObject({ ok: true });
  });

  it('refuses plainly what the host cannot do: no secret, a readable secret file, a missing column, no active flag', async () => {
    await app.createUser({ email: 'fay@example.org', password });
    const noSecret = await spawnCli(['reset', 'send', 'fay@example.org'], { ...env, HMIS_DEVISE_SECRET_FILE: '' });
    expect(noSecret.code).toBe(2);
    expect(noSecret.stderr).toMatch(/HMIS_DEVISE_SECRET_FILE.*HMIS_DEVISE_SECRET/);
    const open = join(mkdtempSync(join(testRoot, 'devise-open-')), 'secret');
    writeFileSync(open, secret);
    chmodSync(open, 0o644);
    const readable = await spawnCli(['users', 'show', 'fay@example.org'], { ...env, HMIS_DEVISE_SECRET_FILE: open });
    expect([readable.code, readable.stderr]).toEqual([2, expect.stringMatching(/can be read by others/)]);
    expect(readable.stderr).not.toContain(secret);
    const missing = await spawnCli(['db', 'status'], { ...env, HMIS_DEVISE_LOGIN: 'user_name' });
    expect([missing.code, missing.stderr]).toEqual([2, expect.stringMatching(/public\.users .* lacks user_name/)]);
    const noFlag = await spawnCli(['lock', 'fay@example.org', '--reason', 'left'], { ...env, HMIS_DEVISE_ACTIVE: 'none' });
    expect([noFlag.code, noFlag.stderr]).toEqual([2, expect.stringMatching(/HMIS_DEVISE_ACTIVE/)]);
    expect(await app.signIn('fay@example.org', password)).toMatchObject({ ok: true });
    // OpenPath sends no reset mail while an invitation is open; neither does hmis-admin.
    await app.createUser({ email: 'gil@example.org', password });
    await db.knex('users').where('email', 'gil@example.org').update({ invitation_token: 'x'.repeat(64), invitation_sent_at: new Date() });
    const invited = await hmis('reset', 'send', 'gil@example.org');
    expect([invited.code, invited.stderr]).toEqual([2, expect.stringMatching(/has not accepted the invitation/)]);
    expect((await db.knex('users').where('email', 'gil@example.org').first('reset_password_token')).reset_password_token).toBeNull();
  });

  it("db devise-digest prints the digest the application's own token generator makes (the README's way to find HMIS_DEVISE_KEY_DIGEST)", async () => {
    const r = await hmis('db', 'devise-digest', 'probe', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toMatchObject({ word: 'probe', sha1: await app.digest('reset_password_token', 'probe'), configured: 'sha1' });
    expect(r.stdout).not.toContain(secret);
  });

  it('left the host schema byte-identical through every command above', () => {
    expect(dump()).toBe(schemaBefore);
  });
});
