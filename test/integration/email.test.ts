/** `email set|verify|check` against a real smtp-server; confirmEmail's binding to one address. */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { confirmEmail } from '../../src/index.js';
import type { TestDb } from '../helpers/db.js';
import { allAccounts, HOSTS, resetDigest, userRow, type LinkShape } from '../helpers/hosts.js';
import { count, FROM, Leaks, seedUsers, SITE, useLinkSuite } from '../helpers/links.js';
import type { TestRelay } from '../helpers/smtp.js';
import { HOSTILE_ADDRESSES } from '../fixtures/hostile-addresses.js';

let db: TestDb;
let relay: TestRelay;
let ids: Record<string, number>;
const leaks = new Leaks();
const env = (extra: Record<string, string | undefined> = {}) => ({ ...db.env, HMIS_SITE_URL: SITE, HMIS_SMTP_URL: relay.url, HMIS_MAIL_FROM: FROM, ...extra });
const run = (args: string[], o: { clock?: () => Date; env?: Record<string, string | undefined> } = {}) => leaks.run(db, args, { env: env(o.env), clock: o.clock });
const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const user = (name: string) => userRow(db.knex, name);
let shape: LinkShape;

/**
 * On devise an address change waits for the person (Devise reconfirmable): `email set` puts the new address in
 * unconfirmed_email and mails the confirmation link there, and the account keeps its address until the person confirms
 * in the web application, which redeems confirmation links itself (confirmEmail refuses there). Devise keeps one account
 * per address (a unique index), so a shared address can only be another account's pending one.
 */
describe.each(HOSTS)('on the %s host', (host) => {
const native = host === 'native';
useLinkSuite(host, [
    { username: 'alice', agency: 'Harbor' }, { username: 'bob', agency: 'Harbor' }, { username: 'frank', agency: 'Harbor', verified: false },
    { username: 'nina', agency: 'Harbor', verified: false }, { username: 'otto', agency: 'Harbor', email: null, phone: null },
    { username: 'clean', agency: 'Quiet Agency' },
  ], (s) => {
  ({ db, relay, ids, shape } = s);
});

describe('email set', () => {
  it('refuses every hostile address with exit 2, naming it, and writes nothing', async () => {
    const before = await user('alice');
    const counts = async () => Promise.all(['audit_log', 'mail_outbox', 'password_reset_tokens'].map((t) => count(db.knex, t)));
    const n = await counts();
    for (const a of HOSTILE_ADDRESSES) {
      const r = await run(['email', 'set', 'alice', a]);
      expect(r.code, JSON.stringify(a)).toBe(2);
      expect(r.stderr, JSON.stringify(a)).toMatch(/^hmis-admin: address ".*" .+; give one plain address such as jane\.doe@agency\.org\n$/);
      expect(r.stdout).toBe('');
    }
    expect(await user('alice')).toEqual(before);
    expect(await counts()).toEqual(n);
  });

  it('stores IDN domains as punycode and lowercases the domain, keeping the local part (Devise: all of it, as its case_insensitive_keys)', async () => {
    const r = await run(['email', 'set', 'alice', 'Alice.Smith@Bücher.EXAMPLE.org', '--verified', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().results[0]).toMatchObject({ user: 'alice', outcome: 'email_set' });
    const row = await user('alice');
    expect(row.email).toBe(host === 'devise' ? 'alice.smith@xn--bcher-kva.example.org' : 'Alice.Smith@xn--bcher-kva.example.org');
    expect(row.email_verified_at).not.toBeNull();
  });

  it('refuses an address another account uses (any case), naming it', async () => {
    const r = await run(['email', 'set', 'alice', 'BOB@agency.test.example.org']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`already the address of bob \\(#${ids.bob}\\)`));
  });

  it('the same address again is a no-op', async () => {
    const n = await count(db.knex, 'audit_log');
    const r = await run(['email', 'set', 'alice', 'Alice.Smith@bücher.example.org', '--json']);
    expect(r.code).toBe(0);
    expect(r.json().results[0]).toMatchObject({ outcome: 'email_set' });
    expect(r.json().results[0].message).toMatch(/nothing changed/);
    expect(await count(db.knex, 'audit_log')).toBe(n);
  });

  it('a change revokes open links, cancels queued link mail, tells the old address and audits masked', async () => {
    expect((await run(['reset', 'send', 'frank'])).code).toBe(0);
    const link = await leaks.fromMail(relay);
    relay.onMessage = () => ({ code: 421, message: 'later' });
    expect((await run(['email', 'verify', 'frank', '--json'])).json().results[0].outcome).toBe('queued');
    relay.onMessage = () => 'accept';
    const r = await run(['email', 'set', 'frank', 'frank.new@agency.test.example.org', '--phone', '(555) 222-3333', '--ticket', 'HD-9', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().results[0].message).toMatch(/notice to the old address frank@agency\.test\.example\.org: sent/);
    const row = await user('frank');
    // Devise reconfirmable: frank keeps his address until he confirms the new one in the web application.
    const addresses = native ? { email: 'frank.new@agency.test.example.org', pending_email: null } : { email: 'frank@agency.test.example.org', pending_email: 'frank.new@agency.test.example.org' };
    expect(row).toMatchObject({ ...addresses, phone: '(555) 222-3333', email_verified_at: null });
    const tokens = await db.knex('password_reset_tokens').where('user_id', ids.frank!);
    expect(tokens.every((t) => t.revoked_at !== null)).toBe(true);
    const linkDigest = await resetDigest(db.knex, link.token);
    expect(tokens.find((t) => t.token_hash === linkDigest).revoked_reason).toBe('email_changed');
    const check = await run(['reset', 'check', link.url, '--json']);
    expect(check.json()).toMatchObject({ reason: 'revoked' });
    expect(check.json().detail).toMatch(/email address changed/);
    const queued = await db.knex('mail_outbox').where({ user_id: ids.frank, kind: 'verify' }).orderBy('id').first();
    expect(queued).toMatchObject({ status: 'failed', last_error: 'cancelled: the account email address changed' });
    const toOld = relay.received.filter((m) => m.to.includes('frank@agency.test.example.org'));
    const notice = toOld[toOld.length - 1]!;
    expect(notice.to).toEqual(['frank@agency.test.example.org']);
    if (!native) {
      // Devise reconfirmable: the confirmation link goes to the new address; the web application confirms it.
      const confirm = await leaks.fromMail(relay, relay.received.findIndex((m) => m.to.includes('frank.new@agency.test.example.org')));
      expect(confirm.url).toBe(`${SITE}${shape.verifyPath}?${shape.verifyParam}=${confirm.token}`);
    }
    expect(notice.raw).toMatch(/f\*\*\*@agency\.test\.example\.org/);
    expect(notice.raw).not.toContain('frank.new@');
    const audit = await db.knex('audit_log').where({ action: 'email.set', user_id: ids.frank }).first();
    expect(audit.ticket).toBe('HD-9');
    expect(audit.details).toMatchObject({ from: 'f***@agency.test.example.org', to: 'f***@agency.test.example.org', phoneChanged: true, verified: false });
    const flush = await run(['outbox', 'flush', '--json'], { clock: () => new Date(Date.now() + 3_600_000) });
    expect(flush.code).toBe(0);
    expect(relay.received.filter((m) => m.to.includes('frank@agency.test.example.org'))).toHaveLength(2);
  });

  it('two admins giving one new address to two accounts at once: exactly one succeeds', async () => {
    await seedUsers(db.knex, [{ username: 'sam' }, { username: 'tess' }]);
    const [a, b] = await Promise.all([
      run(['email', 'set', 'sam', 'front.desk@agency.test.example.org']),
      run(['email', 'set', 'tess', 'Front.Desk@agency.test.example.org']),
    ]);
    expect([a!.code, b!.code].sort()).toEqual([0, 2]);
    expect((a!.code === 2 ? a! : b!).stderr).toMatch(/already (the address of|waiting for) (sam|tess)/);
    const holders = (await allAccounts(db.knex)).filter((a) => [a.email, a.pending_email].some((e) => e?.toLowerCase() === 'front.desk@agency.test.example.org'));
    expect(holders).toHaveLength(1);
  });

  it('refuses a bad phone and supports --dry-run', async () => {
    const bad = await run(['email', 'set', 'bob', 'bob2@agency.test.example.org', '--phone', 'call me']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--phone "call me" may hold only digits/);
    const dry = await run(['email', 'set', 'bob', 'bob2@agency.test.example.org', '--dry-run', '--json']);
    expect(dry.json().results[0]).toMatchObject({ outcome: 'would_set_email' });
    expect((await user('bob')).email).toBe('bob@agency.test.example.org');
  });
});

describe('email verify and confirmEmail', () => {
  it('sends a single-use link bound to the current address', async () => {
    const r = await run(['email', 'verify', 'nina', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().results[0]).toMatchObject({ outcome: 'verification_sent' });
    const mail = await leaks.fromMail(relay);
    expect(mail.url).toBe(`${SITE}${shape.verifyPath}?${shape.verifyParam}=${mail.token}`);
    expect(mail.to).toBe('nina@agency.test.example.org');
    const t = await db.knex('email_verification_tokens').where('user_id', ids.nina!).first();
    expect(t).toMatchObject({ token_hash: sha(mail.token), email: 'nina@agency.test.example.org' });
    // Devise confirms in the web application (confirm_by_token; test/devise/openpath.test.ts), and confirmEmail refuses there.
    if (!native) return;
    const results = await Promise.all(Array.from({ length: 10 }, () => confirmEmail(db.knex, mail.token)));
    expect(results.filter((x) => x.ok)).toEqual([{ ok: true, userId: ids.nina, username: 'nina', email: 'nina@agency.test.example.org' }]);
    expect((await user('nina')).email_verified_at).not.toBeNull();
    expect(await confirmEmail(db.knex, mail.token)).toEqual({ ok: false, reason: 'used' });
    const again = await run(['email', 'verify', 'nina', '--json']);
    expect(again.code).toBe(0);
    expect(again.json().results[0]).toMatchObject({ outcome: 'already_verified' });
  });

  it.runIf(native)('a token for an address the account no longer has confirms nothing', async () => {
    expect((await run(['email', 'verify', 'frank'])).code).toBe(0);
    const mail = await leaks.fromMail(relay);
    // Another system changes the address without revoking anything: the binding alone must hold.
    await db.knex('users').where('id', ids.frank!).update({ email: 'frank.other@agency.test.example.org' });
    expect(await confirmEmail(db.knex, mail.token)).toEqual({ ok: false, reason: 'email_changed' });
    expect((await user('frank')).email_verified_at).toBeNull();
    const t = await db.knex('email_verification_tokens').where('token_hash', sha(mail.token)).first();
    expect(t.used_at).toBeNull();
    expect(await confirmEmail(db.knex, 'x')).toEqual({ ok: false, reason: 'malformed' });
    expect(await confirmEmail(db.knex, 'Z'.repeat(43))).toEqual({ ok: false, reason: 'unknown' });
    const expired = await run(['email', 'verify', 'frank']);
    expect(expired.code).toBe(0);
    const m2 = await leaks.fromMail(relay);
    expect(await confirmEmail(db.knex, m2.token, new Date(Date.now() + 25 * 3_600_000))).toEqual({ ok: false, reason: 'expired' });
  });

  it('refuses without an address (exit 2)', async () => {
    const r = await run(['email', 'verify', 'otto']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/otto has no email address.*email set otto/);
  });
});

describe('email check', () => {
  it('lists missing, invalid, shared, unverified and phone problems per agency; exit 5 with --fail-if-any', async () => {
    await seedUsers(db.knex, [
      { username: 'pia', agency: 'Harbor', email: 'desk@agency.test.example.org' },
      // Devise: one account per address, so quinn waits to confirm it (Devise would refuse the confirmation).
      { username: 'quinn', agency: 'Harbor', ...(native ? { email: 'DESK@agency.test.example.org' } : { pending: 'DESK@agency.test.example.org' }), phone: 'ask' },
      { username: 'rex', agency: 'Harbor', email: 'not-an-address' },
    ]);
    const r = await run(['email', 'check', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = r.json();
    const by = Object.fromEntries(doc.accounts.map((a: { user: string; problems: string[] }) => [a.user, a.problems]));
    expect(by.otto).toEqual(['missing_email', 'missing_phone']);
    expect(by.rex).toEqual(['invalid_email']);
    expect(by.pia).toEqual(['duplicate_email']);
    expect(by.quinn).toEqual(['duplicate_email', 'invalid_phone']);
    expect(by.frank).toEqual(['unverified']);
    expect(by.clean).toBeUndefined();
    const harbor = doc.agencies.find((a: { agency: string }) => a.agency === 'Harbor');
    expect(harbor).toMatchObject({ missingEmail: 1, invalidEmail: 1, duplicateEmail: 2, missingPhone: 1, invalidPhone: 1 });
    expect(doc.total.accounts).toBe((await allAccounts(db.knex)).length);
    const fail = await run(['email', 'check', '--fail-if-any', '--format', 'csv']);
    expect(fail.code).toBe(5);
    expect(fail.stdout.split('\n')[0]).toBe('id,user,agency,email,problems,detail');
    expect(fail.stderr).toMatch(/account\(s\) have an address or phone problem/);
    const quiet = await run(['email', 'check', '--fail-if-any', '--agency', 'quiet agency']);
    expect(quiet.code, quiet.stderr).toBe(0);
    for (const line of quiet.stdout.split('\n')) expect(line.length).toBeLessThanOrEqual(80);
    expect((await run(['email', 'check', '--agency', 'Nowhere'])).code).toBe(2);
  });
});

describe('no raw token anywhere', () => {
  it('finds none of the delivered tokens in any table or captured output', async () => {
    expect(leaks.tokens.size).toBeGreaterThanOrEqual(4);
    expect(await leaks.scan(db.knex)).toEqual([]);
  });
});

});
