/**
 * Links are built from the configuration of the run that delivers them, never from the outbox row; the
 * link lifecycle (minted, revoked because undelivered) is audited without the token.
 */
import { describe, expect, it } from 'vitest';
import type { TestDb } from '../helpers/db.js';
import { HOSTS, resetDigest, type LinkShape } from '../helpers/hosts.js';
import { FROM, Leaks, SITE, useLinkSuite } from '../helpers/links.js';
import type { TestRelay } from '../helpers/smtp.js';

let db: TestDb;
let relay: TestRelay;
let ids: Record<string, number>;
const leaks = new Leaks();
const env = (extra: Record<string, string | undefined> = {}) => ({ ...db.env, HMIS_SITE_URL: SITE, HMIS_SMTP_URL: relay.url, HMIS_MAIL_FROM: FROM, ...extra });
const run = (args: string[], o: { clock?: () => Date; env?: Record<string, string | undefined> } = {}) => leaks.run(db, args, { env: env(o.env), clock: o.clock });
const digest = (raw: string) => resetDigest(db.knex, raw);
let shape: LinkShape;
const defer = () => (relay.onMessage = () => ({ code: 421, message: '4.3.2 try again later' }));
const accept = () => (relay.onMessage = () => 'accept');
const later = () => new Date(Date.now() + 10 * 60_000);
const audits = async (action: string, userId: number) =>
  ((await db.knex('audit_log').where({ action, user_id: userId }).orderBy('id')) as Array<{ details: unknown; ticket: string | null }>).map((a) =>
    typeof a.details === 'string' ? (JSON.parse(a.details) as Record<string, unknown>) : (a.details as Record<string, unknown>),
  );

describe.each(HOSTS)('on the %s host', (host) => {
useLinkSuite(host, [{ username: 'alice' }, { username: 'bert' }, { username: 'cora', verified: false }, { username: 'dina' }], (s) => {
  ({ db, relay, ids, shape } = s);
});

describe('links come from the configuration at delivery time', () => {
  it('a tampered siteUrl/path in a pending reset row is ignored: the link uses HMIS_SITE_URL', async () => {
    defer();
    const r = await run(['reset', 'send', 'alice', '--json']);
    accept();
    expect(r.json().results[0]).toMatchObject({ outcome: 'queued' });
    const row = await db.knex('mail_outbox').where({ user_id: ids.alice, kind: 'reset', status: 'pending' }).first();
    const params = typeof row.params === 'string' ? JSON.parse(row.params) : row.params;
    expect(params).not.toHaveProperty('siteUrl');
    expect(params).not.toHaveProperty('path');
    await db.knex('mail_outbox').where('id', row.id).update({ params: JSON.stringify({ ...params, siteUrl: 'http://evil.example', path: '/steal' }) });

    const flush = await run(['outbox', 'flush', '--json'], { clock: later });
    expect(flush.code, flush.stderr).toBe(0);
    const mail = await leaks.fromMail(relay);
    expect(mail.url).toBe(`${SITE}${shape.resetPath}?${shape.resetParam}=${mail.token}`);
    expect(mail.text).not.toContain('evil.example');
    const token = await db.knex('password_reset_tokens').where('token_hash', await digest(mail.token)).first();
    expect(token.site_url).toBe(`${SITE}${shape.resetPath}`);
    expect(Number(token.outbox_id)).toBe(Number(row.id));
  });

  it('a tampered verify row is ignored the same way', async () => {
    defer();
    expect((await run(['email', 'verify', 'cora', '--json'])).json().results[0].outcome).toBe('queued');
    accept();
    const row = await db.knex('mail_outbox').where({ user_id: ids.cora, kind: 'verify', status: 'pending' }).first();
    const params = typeof row.params === 'string' ? JSON.parse(row.params) : row.params;
    expect(params).not.toHaveProperty('siteUrl');
    await db.knex('mail_outbox').where('id', row.id).update({ params: JSON.stringify({ ...params, siteUrl: 'http://evil.example', path: '/x' }) });
    expect((await run(['outbox', 'flush'], { clock: later })).code).toBe(0);
    const mail = await leaks.fromMail(relay);
    expect(mail.url).toBe(`${SITE}${shape.verifyPath}?${shape.verifyParam}=${mail.token}`);
  });

  it('a run whose configuration allows no link is refused (exit 2, naming the variable) before it claims anything', async () => {
    defer();
    expect((await run(['reset', 'send', 'bert', '--json'])).json().results[0].outcome).toBe('queued');
    accept();
    // A notice is due as well: the run is refused as a whole, so nothing is claimed or sent.
    const { enqueueMail } = await import('../../src/mail/outbox.js');
    await enqueueMail(db.knex, { kind: 'notice', userId: ids.dina, to: 'dina@agency.test.example.org', subject: 'n', text: 't', html: 'h' });
    const received = relay.received.length;
    const tokens = await db.knex('password_reset_tokens').where('user_id', ids.bert!).select('id');
    const before = await db.knex('mail_outbox').where('status', 'pending').orderBy('id').select('id', 'attempts', 'last_error');
    expect(before).toHaveLength(2);
    // As from cron with the site URL left out of the job's environment.
    const flush = await run(['outbox', 'flush', '--json'], { clock: later, env: { HMIS_SITE_URL: undefined } });
    expect(flush.code).toBe(2);
    expect(flush.stdout).toBe('');
    expect(flush.stderr.trim().split('\n')).toHaveLength(1);
    expect(flush.stderr).toMatch(/HMIS_SITE_URL is not set/);
    expect(relay.received.length).toBe(received);
    expect(await db.knex('password_reset_tokens').where('user_id', ids.bert!).select('id')).toEqual(tokens);
    expect(await db.knex('mail_outbox').where('status', 'pending').orderBy('id').select('id', 'attempts', 'last_error')).toEqual(before);
    // With the variable set, the same rows go out.
    const fixed = await run(['outbox', 'flush', '--json'], { clock: later });
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(fixed.json().results.map((r: { outcome: string }) => r.outcome)).toEqual(['sent', 'sent']);
    const toBert = relay.received.findIndex((m, i) => i >= received && m.to.includes('bert@agency.test.example.org'));
    expect((await leaks.fromMail(relay, toBert)).url).toMatch(new RegExp(`^${SITE}${shape.resetPath}\\?${shape.resetParam}=`));
  });
});

describe('the link lifecycle is audited', () => {
  it('reset.minted on every mint and reset.revoked_undelivered with the revoke, ids only', async () => {
    defer();
    await run(['reset', 'send', 'dina', '--ticket', 'HD-9']);
    accept();
    expect((await run(['outbox', 'flush'], { clock: later })).code).toBe(0);
    const mail = await leaks.fromMail(relay);
    const tokens = await db.knex('password_reset_tokens').where('user_id', ids.dina!).orderBy('id');
    expect(tokens).toHaveLength(2);
    const outboxId = Number(tokens[0].outbox_id);
    const minted = await audits('reset.minted', ids.dina!);
    expect(minted).toEqual([
      { linkId: Number(tokens[0].id), outboxId },
      { linkId: Number(tokens[1].id), outboxId },
    ]);
    const revoked = await audits('reset.revoked_undelivered', ids.dina!);
    expect(revoked).toEqual([{ linkId: Number(tokens[0].id), outboxId, reason: 'delivery deferred' }]);
    expect(tokens[0].revoked_reason).toMatch(/^undelivered/);
    expect(tokens[1].token_hash).toBe(await digest(mail.token));
    const tickets = (await db.knex('audit_log').where('user_id', ids.dina!).whereIn('action', ['reset.minted', 'reset.revoked_undelivered']).pluck('ticket')) as string[];
    expect(new Set(tickets)).toEqual(new Set(['HD-9']));
    // reset list: the revoked link was never delivered, though its outbox row was (with the fresh link).
    const list = (await run(['reset', 'list', 'dina', '--json'])).json<Array<{ id: number; state: string; delivery: string; deliveryDetail: string | null }>>();
    expect(list.map((l) => [l.id, l.state, l.delivery])).toEqual([[Number(tokens[1].id), 'valid', 'sent'], [Number(tokens[0].id), 'revoked', 'not_sent']]);
    expect(list[1]!.deliveryDetail).toBe('delivery deferred');
    const table = (await run(['reset', 'list', 'dina'])).stdout.split('\n');
    expect(table.find((l) => l.startsWith(`${tokens[0].id} `))).toMatch(/revoked\s+undelivered\s+not_sent$/);
  });

  it('email.verify_minted and email.verify_revoked_undelivered for verification links', async () => {
    const minted = await audits('email.verify_minted', ids.cora!);
    const revoked = await audits('email.verify_revoked_undelivered', ids.cora!);
    const tokens = await db.knex('email_verification_tokens').where('user_id', ids.cora!).orderBy('id');
    expect(minted.map((m) => m.linkId)).toEqual(tokens.map((t) => Number(t.id)));
    expect(revoked).toEqual([{ linkId: Number(tokens[0].id), outboxId: Number(tokens[0].outbox_id), reason: 'delivery deferred' }]);
  });

  it('no raw token anywhere: tables, audit trail, outputs', async () => {
    expect(leaks.tokens.size).toBeGreaterThanOrEqual(3);
    expect(await leaks.scan(db.knex)).toEqual([]);
  });
});

});
