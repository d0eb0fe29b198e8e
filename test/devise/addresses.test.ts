/**
 * An address hmis-admin writes into a Devise application's users table is one the application can find: Devise's
 * case_insensitive_keys lowercases what the person types (sign-in, "Forgot password") and matches exactly, so an
 * address typed with capitals to `email set` must be stored lowercased — proven with the real Devise application.
 */
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

describeDevise('addresses hmis-admin writes are found by Devise (case_insensitive_keys)', () => {
  let db: DeviseDatabase;
  let app: DeviseApp;
  let relay: TestRelay;
  let env: Record<string, string>;
  const hmis = (...args: string[]) => spawnCli(args, env);

  beforeAll(async () => {
    db = await createDeviseDatabase();
    app = await startDevise(db.url, { secret });
    relay = await startRelay();
    const dir = mkdtempSync(join(testRoot, 'devise-secret-'));
    writeFileSync(join(dir, 'secret'), `${secret}\n`);
    chmodSync(join(dir, 'secret'), 0o600);
    env = {
      ...sandboxEnv(),
      HMIS_DATABASE_URL: db.url,
      HMIS_SCHEMA: 'devise',
      HMIS_DEVISE_SECRET_FILE: join(dir, 'secret'),
      HMIS_SITE_URL: 'https://hmis.example.org',
      HMIS_SMTP_URL: relay.url,
      HMIS_MAIL_FROM: 'no-reply@hmis.example.org',
    };
    expect((await hmis('db', 'migrate')).code).toBe(0);
  });
  afterAll(async () => {
    await app?.stop();
    await relay?.close();
    await db?.drop();
  });

  it('email set --verified with capitals: the person signs in and asks for a reset with the address however they type it', async () => {
    await app.createUser({ email: 'mike.s@agency.org', password });
    const r = await hmis('email', 'set', 'mike.s@agency.org', 'Mike.Smith@Agency.org', '--verified');
    expect(r.code, r.stderr).toBe(0);
    expect((await app.user('mike.smith@agency.org'))?.email).toBe('mike.smith@agency.org');
    expect(await app.signIn('Mike.Smith@Agency.org', password)).toMatchObject({ ok: true });
    expect(await app.signIn('mike.smith@agency.org', password)).toMatchObject({ ok: true });
    expect(await app.requestReset('mike.smith@agency.org')).toMatchObject({ ok: true, to: ['mike.smith@agency.org'] });
    expect(await app.requestReset(' Mike.Smith@AGENCY.org ')).toMatchObject({ ok: true, to: ['mike.smith@agency.org'] });
  });

  it("email set with capitals waiting for confirmation: Devise's confirm_by_token moves it, and the person signs in with it", async () => {
    const r = await hmis('email', 'set', 'mike.smith@agency.org', 'Michael.Smith@Agency.ORG');
    expect(r.code, r.stderr).toBe(0);
    expect((await app.user('mike.smith@agency.org'))?.unconfirmed_email).toBe('michael.smith@agency.org');
    const m = [...relay.received].reverse().find((x) => x.to.includes('michael.smith@agency.org'));
    const url = /https:\/\/\S+confirmation_token=[\w-]+/.exec((await simpleParser(m!.raw)).text ?? '')![0];
    expect(await app.confirm({ url })).toMatchObject({ ok: true });
    expect(await app.signIn('Michael.Smith@agency.org', password)).toMatchObject({ ok: true });
    expect(await app.requestReset('michael.smith@agency.org')).toMatchObject({ ok: true, to: ['michael.smith@agency.org'] });
  });
});
