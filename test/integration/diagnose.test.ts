import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { onServer, type TestDb } from '../helpers/db.js';
import { useHostDb } from '../helpers/host-suite.js';
import { HOSTS, insertAccounts, type AccountSeed } from '../helpers/hosts.js';

let db: TestDb;
const now = new Date('2026-11-27T12:00:00.000Z');
const clock = () => now;
const DAY = 86_400_000;
const ago = (days: number) => new Date(now.getTime() - days * DAY);
const SITE = 'https://hmis.example.org';
const env = { HMIS_SITE_URL: SITE, HMIS_MAIL_FROM: 'hmis-noreply@example.org' };

/** A healthy account unless `over` says otherwise. */
async function account(username: string, over: Partial<AccountSeed> = {}): Promise<number> {
  const [id] = await insertAccounts(db.knex, [{
    username, first_name: 'Test', last_name: username, email: `${username}@agency.example.org`, email_verified_at: ago(10),
    phone: '(555) 010-0100', account_expires_at: new Date(now.getTime() + 200 * DAY), ...over,
  }]);
  return id!;
}

/** A reset mail in the outbox and, when delivered, the token it carried. */
async function resetMail(userId: number, status: string, token?: Record<string, unknown>, mail: Record<string, unknown> = {}) {
  const [m] = await db.knex('mail_outbox')
    .insert({ kind: 'reset', user_id: userId, to_address: 'x@agency.example.org', subject: 'Reset', text_body: '{{link}}', html_body: '{{link}}', status, created_at: ago(1), ...mail })
    .returning('id');
  if (token) {
    await db.knex('password_reset_tokens').insert({
      user_id: userId, token_hash: randomBytes(32).toString('hex'), created_at: ago(1), expires_at: new Date(ago(1).getTime() + 3_600_000),
      site_url: `${SITE}/password/reset`, outbox_id: Number(m.id), ...token,
    });
  }
}

async function diagnose(user: string, extra: Record<string, string> = {}) {
  const r = await cli(['diagnose', user, '--json'], { database: db, clock, env: { ...db.env, ...env, ...extra } });
  const doc = r.json<{ user: string; canReset: boolean; checks: Array<{ id: string; status: string; message: string; fix: string | null }> }>();
  const check = (id: string) => doc.checks.find((c) => c.id === id)!;
  return { ...r, doc, check };
}

describe.each(HOSTS)('on the %s host', (host) => {
useHostDb(host, async (d) => {
  db = d;
  await account('healthy');
  await account('locked1', { failed_login_attempts: 3, last_failed_login_at: ago(2), locked_at: ago(2), lock_reason: 'failed_logins' });
  const exp = await account('expired1', { account_expires_at: ago(5), locked_at: ago(5), lock_reason: 'agreement_expired' });
  await db.knex('user_agreements').insert({ user_id: exp, term_started_at: ago(370), user_signed_at: ago(3), user_signed_by: 'x' });
  await account('noemail', { email: null, email_verified_at: null });
  await account('unverified', { email_verified_at: null });
  await account('shared1', { email: 'front.desk@agency.example.org' });
  // Devise keeps one account per address (a unique index): there the other account is waiting to confirm it.
  await account('shared2', host === 'devise' ? { pending_email: 'Front.Desk@agency.example.org' } : { email: 'Front.Desk@agency.example.org' });
  await resetMail(await account('failedmail'), 'failed', undefined, { last_error: '550 5.1.1 <x@agency.example.org>: mailbox unavailable', attempts: 1 });
  await resetMail(await account('queuedmail'), 'pending', undefined, { last_error: '421 try again later', attempts: 2 });
  await resetMail(await account('expiredlink'), 'sent', {}, { sent_at: ago(1) });
  await resetMail(await account('usedlink'), 'sent', { used_at: ago(1) }, { sent_at: ago(1) });
  await resetMail(await account('wrongsite'), 'sent', { site_url: 'https://old-hmis.example.com/password/reset', expires_at: new Date(now.getTime() + 3_600_000) }, { sent_at: ago(1) });
  await account('nophone', { phone: null });
  // One from the threshold: 3 by default, Devise's 20 (OpenPath's maximum_attempts) on devise.
  await account('onemore', { failed_login_attempts: host === 'devise' ? 19 : 2, last_failed_login_at: ago(0.1) });
  // Devise has room for one account without an address (users.email is unique and never null): here it is unusable.
  const several = await account('several', {
    email: host === 'devise' ? 'several-at-agency' : null, email_verified_at: null, phone: null, failed_login_attempts: 3, locked_at: ago(40), lock_reason: 'failed_logins',
    account_expires_at: new Date(now.getTime() + 10 * DAY),
  });
  await db.knex('user_agreements').insert({ user_id: several, term_started_at: ago(355), user_signed_at: ago(1), supervisor_signed_at: ago(1) });
}, { reset: false });

describe('diagnose', () => {
  it('a healthy account: every check ok, canReset, exit 0, the CONTRACT shape', async () => {
    const r = await diagnose('HEALTHY');
    expect(r.code, r.stderr).toBe(0);
    expect(Object.keys(r.doc)).toEqual(['user', 'canReset', 'checks']);
    expect(r.doc.user).toBe('healthy');
    expect(r.doc.canReset).toBe(true);
    expect(r.doc.checks.map((c) => c.id)).toEqual(['site', 'locked', 'agreement', 'email', 'recent_resets', 'phone']);
    for (const c of r.doc.checks) {
      expect(Object.keys(c)).toEqual(['id', 'status', 'message', 'fix']);
      expect(c.status, `${c.id}: ${c.message}`).toBe('ok');
      expect(c.fix).toBeNull();
    }
  });

  it('wrong site: the latest link was built for another site (fail), a new link would work', async () => {
    const r = await diagnose('wrongsite');
    expect(r.code).toBe(5);
    expect(r.check('site')).toMatchObject({ status: 'fail', fix: 'hmis-admin reset send wrongsite' });
    expect(r.check('site').message).toMatch(/built for https:\/\/old-hmis\.example\.com .*not https:\/\/hmis\.example\.org/);
    expect(r.doc.canReset).toBe(true);
  });

  it('site configuration: unset or http fails on a server database; on the embedded one it only warns', async () => {
    const http = await diagnose('healthy', { HMIS_SITE_URL: 'http://hmis.example.org' });
    expect(http.check('site').status).toBe(onServer ? 'fail' : 'warn');
    expect(http.doc.canReset).toBe(!onServer);
    const unset = await diagnose('healthy', { HMIS_SITE_URL: '' });
    expect(unset.check('site').status).toBe(onServer ? 'fail' : 'warn');
    expect(unset.check('site').fix).toMatch(/HMIS_SITE_URL=https:/);
    expect(unset.code).toBe(onServer ? 5 : 0);
  });

  it('locked by failed logins: reason, attempts, since when; fix is unlock', async () => {
    const r = await diagnose('locked1');
    expect(r.code).toBe(5);
    expect(r.doc.canReset).toBe(false);
    expect(r.check('locked')).toMatchObject({ status: 'fail', fix: 'hmis-admin unlock locked1' });
    // Devise keeps no time of the last failed login (lockable has failed_attempts and locked_at only).
    const last = host === 'devise' ? '' : ' (last 2026-11-25 12:00 UTC)';
    expect(r.check('locked').message).toBe(`locked since 2026-11-25 12:00 UTC after 3 failed logins${last}`);
  });

  it('one failed login from the threshold warns', async () => {
    const r = await diagnose('onemore');
    expect(r.code).toBe(0);
    expect(r.check('locked')).toMatchObject({ status: 'warn', fix: 'hmis-admin reset send onemore' });
  });

  it('agreement expired with missing signatures: which ones, and the sign command', async () => {
    const r = await diagnose('expired1');
    expect(r.code).toBe(5);
    expect(r.doc.canReset).toBe(false);
    // Every missing signature with its command, not only the first.
    const both = 'hmis-admin agreement sign expired1 --by supervisor && hmis-admin agreement sign expired1 --by director';
    expect(r.check('agreement')).toMatchObject({ status: 'fail', fix: both });
    expect(r.check('agreement').message).toBe('agreement expired on 2026-11-22; missing signatures: supervisor, director');
    expect(r.check('locked')).toMatchObject({ status: 'fail', fix: both });
    const text = await cli(['diagnose', 'expired1'], { database: db, clock, env: { ...db.env, ...env } });
    expect(text.code).toBe(5);
    const lines = text.stdout.split('\n');
    expect(lines.filter((l) => l === '                       fix: hmis-admin agreement sign expired1 --by supervisor')).toHaveLength(2);
    expect(lines.filter((l) => l === '                            hmis-admin agreement sign expired1 --by director')).toHaveLength(2);
  });

  it('missing email fails and blocks a reset', async () => {
    const r = await diagnose('noemail');
    expect(r.code).toBe(5);
    expect(r.doc.canReset).toBe(false);
    expect(r.check('email')).toMatchObject({ status: 'fail', fix: 'hmis-admin email set noemail <address>' });
  });

  it('unverified email only warns: canReset stays true, exit 0', async () => {
    const r = await diagnose('unverified');
    expect(r.code).toBe(0);
    expect(r.doc.canReset).toBe(true);
    expect(r.check('email')).toMatchObject({ status: 'warn', fix: 'hmis-admin email verify unverified' });
  });

  it('a shared address names the other account (case-insensitively)', async () => {
    const r = await diagnose('shared1');
    expect(r.code).toBe(5);
    expect(r.doc.canReset).toBe(false);
    expect(r.check('email').status).toBe('fail');
    expect(r.check('email').message).toMatch(/^f\*\*\*@agency\.example\.org is also the address of shared2 \(#\d+\)/);
  });

  it('recent resets: failed delivery fails with the relay answer; queued and expired warn; used is ok', async () => {
    const failed = await diagnose('failedmail');
    expect(failed.code).toBe(5);
    expect(failed.check('recent_resets').status).toBe('fail');
    expect(failed.check('recent_resets').message).toMatch(/never delivered: 550 5\.1\.1/);
    expect(failed.doc.canReset).toBe(true);
    const queued = await diagnose('queuedmail');
    expect(queued.check('recent_resets')).toMatchObject({ status: 'warn', fix: 'hmis-admin outbox flush' });
    expect(queued.check('recent_resets').message).toMatch(/still waiting in the outbox after 2 attempts; last error: 421/);
    const expired = await diagnose('expiredlink');
    expect(expired.check('recent_resets').status).toBe('warn');
    expect(expired.check('recent_resets').message).toMatch(/expired unused .*Spam\/Junk for mail from hmis-noreply@example\.org/);
    const used = await diagnose('usedlink');
    expect(used.check('recent_resets').status).toBe('ok');
    expect(used.check('recent_resets').message).toMatch(/was used at/);
  });

  it('missing phone warns with the email set --phone fix', async () => {
    const r = await diagnose('nophone');
    expect(r.code).toBe(0);
    expect(r.check('phone')).toMatchObject({ status: 'warn', fix: 'hmis-admin email set nophone nophone@agency.example.org --phone <number>' });
  });

  it('several causes at once are all reported', async () => {
    const r = await diagnose('several');
    expect(r.code).toBe(5);
    expect(r.doc.canReset).toBe(false);
    expect(r.doc.checks.map((c) => c.status)).toEqual(['ok', 'fail', 'warn', 'fail', 'ok', 'warn']);
    expect(r.check('agreement').message).toMatch(/in 10 days\); missing signatures: director/);
  });

  it('table mode prints a checklist with fixes indented, no colour off a terminal; exit 5 still', async () => {
    const r = await cli(['diagnose', 'several'], { database: db, clock, env: { ...db.env, ...env } });
    expect(r.code).toBe(5);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^several: a reset link sent now would NOT work/);
    expect(lines).toContain('  fail  locked         locked since 2026-10-18 12:00 UTC after 3 failed logins');
    expect(lines).toContain('                       fix: hmis-admin unlock several'); // under the message, not a column left of it
    expect(r.stdout).not.toMatch(/\u001b\[/);
  });

  it('unknown user exit 3', async () => {
    const r = await cli(['diagnose', 'nobody'], { database: db, env: { ...db.env, ...env } });
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
  });
});

});
