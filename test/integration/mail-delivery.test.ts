/** The outbox against a real in-process SMTP relay: pooling, content, DKIM, 421/550/drop/down, link minting. */
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { renderMail } from '../../src/mail/compose.js';
import { BACKOFF_MS, enqueueMail, MAX_ATTEMPTS, minterFor, setLinkMinterForTest, STALE_SENDING_MS } from '../../src/mail/outbox.js';
import type { MailKind, OutboxRow } from '../../src/mail/types.js';
import { cli } from '../helpers/cli.js';
import { openTestDb, type TestDb } from '../helpers/db.js';
import { testRoot } from '../helpers/paths.js';
import { deadPort, startRelay, verifyDkim, type TestRelay } from '../helpers/smtp.js';

const FROM = 'hmis-noreply@hmis.example.org';
let db: TestDb;
let relay: TestRelay;
const T0 = new Date('2026-11-27T09:00:00Z');
const at = (ms: number) => () => new Date(T0.getTime() + ms);
const env = () => ({ HMIS_SITE_URL: 'https://hmis.test.example.org', HMIS_SMTP_URL: relay.url, HMIS_MAIL_FROM: FROM });

beforeAll(async () => {
  db = await openTestDb();
});
afterAll(async () => db?.close());
beforeEach(async () => {
  await db.reset();
  relay = await startRelay();
});
afterEach(async () => {
  await relay.close();
});

async function enqueue(n: number, kind: MailKind = 'notice', to = (i: number) => `user${i}@agency.org`): Promise<number[]> {
  const body = renderMail({ greeting: 'Hello,', paragraphs: ['Your HMIS account <b>changed</b> & so on.'], senderHint: FROM });
  const ids: number[] = [];
  for (let i = 0; i < n; i++) ids.push(await enqueueMail(db.knex, { kind, to: to(i), subject: `Notice ${i}`, ...body }));
  return ids;
}
const rows = async () => (await db.knex('mail_outbox').orderBy('id')) as OutboxRow[];

describe('outbox flush', () => {
  it('delivers a batch over a few pooled connections, each message once', async () => {
    await enqueue(12);
    const r = await cli(['outbox', 'flush', '--json'], { database: db, env: env(), clock: at(0) });
    expect(r.code, r.stderr).toBe(0);
    const results = r.json<{ results: Array<{ user: string; outcome: string; message: string }> }>().results;
    expect(results.map((x) => x.outcome)).toEqual(Array(12).fill('sent'));
    expect(relay.received).toHaveLength(12);
    expect(relay.connections).toBeLessThanOrEqual(3);
    for (const row of await rows()) {
      expect(row.status).toBe('sent');
      expect(row.relay_response).toMatch(/250/);
      expect(relay.acceptedCount(row.message_id!)).toBe(1);
    }
  });

  it('sends RFC 5322 mail: Message-ID on the sender domain, Date, text equal to HTML, footer, no List-Unsubscribe', async () => {
    await enqueue(1);
    expect((await cli(['outbox', 'flush'], { database: db, env: env(), clock: at(0) })).code).toBe(0);
    const raw = relay.received[0]!.raw;
    const mail = await simpleParser(raw);
    expect(mail.messageId).toMatch(/^<[0-9a-f-]{36}@hmis\.example\.org>$/);
    expect(mail.date).toBeInstanceOf(Date);
    expect(mail.from?.text).toBe(FROM);
    expect(mail.headers.has('list-unsubscribe')).toBe(false);
    const words = (s: string) => s.replace(/\s+/g, ' ').trim();
    const htmlText = (mail.html as string)
      .replace(/<[^>]+>/g, ' ')
      .replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');
    expect(words(htmlText)).toBe(words(mail.text!));
    expect(mail.text).toContain('<b>changed</b> & so on');
    expect(mail.html).toContain('&lt;b&gt;changed&lt;/b&gt; &amp; so on');
    expect(mail.text).toMatch(new RegExp(`spam or junk folder.*${FROM.replace(/\./g, '\\.')}`, 's'));
  });

  it('421 mid-batch: the rest goes out with the next flush, every message exactly once', async () => {
    await enqueue(6);
    relay.onMessage = (seen) => (seen === 2 ? { code: 421, message: '4.3.2 try again later' } : 'accept');
    const first = await cli(['outbox', 'flush', '--json'], { database: db, env: env(), clock: at(0) });
    expect(first.code, first.stderr).toBe(0);
    const outcomes = first.json<{ results: Array<{ outcome: string; message: string }> }>().results;
    expect(outcomes.filter((x) => x.outcome === 'queued').length).toBeGreaterThanOrEqual(1);
    const queued = (await rows()).filter((x) => x.status === 'pending');
    for (const q of queued) {
      expect(q.last_error).toMatch(/421/);
      expect(new Date(q.next_attempt_at).getTime()).toBe(T0.getTime() + BACKOFF_MS[0]!);
    }
    // Not due yet: nothing is sent again.
    const early = await cli(['outbox', 'flush', '--json'], { database: db, env: env(), clock: at(30_000) });
    expect(early.json().results).toEqual([]);
    const second = await cli(['outbox', 'flush', '--json'], { database: db, env: env(), clock: at(BACKOFF_MS[0]!) });
    expect(second.code, second.stderr).toBe(0);
    expect(second.json().results.every((x: { outcome: string }) => x.outcome === 'sent')).toBe(true);
    const all = await rows();
    expect(all.every((x) => x.status === 'sent')).toBe(true);
    for (const row of all) expect(relay.acceptedCount(row.message_id!)).toBe(1);
    expect(relay.received).toHaveLength(6);
  });

  it('550 fails the message for good with the relay reply stored (exit 4)', async () => {
    await enqueue(2, 'notice', (i) => (i === 0 ? 'gone@agency.org' : 'here@agency.org'));
    relay.refuse.add('gone@agency.org');
    const r = await cli(['outbox', 'flush', '--json'], { database: db, env: env(), clock: at(0) });
    expect(r.code).toBe(4);
    const [gone, here] = await rows();
    expect(gone!.status).toBe('failed');
    expect(gone!.relay_response).toMatch(/550.*no such user/);
    expect(here!.status).toBe('sent');
    // A failed message is never retried.
    const again = await cli(['outbox', 'flush', '--json'], { database: db, env: env(), clock: at(86_400_000) });
    expect(again.json().results).toEqual([]);
  });

  it('a connection dropped during DATA goes back to pending with backoff', async () => {
    await enqueue(1);
    relay.onMessage = () => 'drop';
    const r = await cli(['outbox', 'flush', '--json'], { database: db, env: env(), clock: at(0) });
    expect([0, 1]).toContain(r.code);
    const [row] = await rows();
    expect(row!.status).toBe('pending');
    expect(row!.attempts).toBe(1);
    expect(row!.last_error).toBeTruthy();
    expect(new Date(row!.next_attempt_at).getTime()).toBe(T0.getTime() + BACKOFF_MS[0]!);
    relay.onMessage = () => 'accept';
    const again = await cli(['outbox', 'flush'], { database: db, env: env(), clock: at(BACKOFF_MS[0]!) });
    expect(again.code, again.stderr).toBe(0);
    expect(relay.received).toHaveLength(1);
  });

  it('relay down: everything stays pending and flush exits 1; gives up after the last attempt', async () => {
    await enqueue(8);
    const down = { HMIS_SITE_URL: 'https://hmis.test.example.org', HMIS_SMTP_URL: `smtp://127.0.0.1:${await deadPort()}`, HMIS_MAIL_FROM: FROM };
    const r = await cli(['outbox', 'flush', '--json'], { database: db, env: down, clock: at(0) });
    expect(r.code).toBe(1);
    // One small batch finds the relay down; the rest is left untouched for the next run.
    expect(r.json().results.map((x: { outcome: string }) => x.outcome)).toEqual(['queued', 'queued', 'queued']);
    expect(r.stderr).toMatch(/unreachable; 5 more message\(s\) stay queued/);
    expect((await rows()).map((x) => [x.status, x.attempts])).toEqual([...Array(3).fill(['pending', 1]), ...Array(5).fill(['pending', 0])]);
    await db.knex('mail_outbox').where('id', '<=', 3).update({ attempts: MAX_ATTEMPTS - 1 });
    await db.knex('mail_outbox').where('id', '>', 3).delete();
    const last = await cli(['outbox', 'flush', '--json'], { database: db, env: down, clock: at(86_400_000) });
    expect(last.code).toBe(4);
    expect((await rows()).every((x) => x.status === 'failed' && /gave up after 10 attempts/.test(x.last_error!))).toBe(true);
  });

  it('returns rows stuck in sending (a crashed run) to the queue', async () => {
    const [id] = await enqueue(1);
    await db.knex('mail_outbox').where({ id }).update({ status: 'sending', attempts: 1, claimed_at: T0 });
    // Not after 30 minutes: a live run's largest batch may take that long at its connection timeouts.
    expect(STALE_SENDING_MS).toBeGreaterThan(30 * 60_000);
    const soon = await cli(['outbox', 'flush', '--json'], { database: db, env: env(), clock: at(30 * 60_000) });
    expect(soon.json().results).toEqual([]);
    const later = await cli(['outbox', 'flush', '--json'], { database: db, env: env(), clock: at(STALE_SENDING_MS + 60_000) });
    expect(later.json().results[0].outcome).toBe('sent');
    expect(relay.received).toHaveLength(1);
  });

  it('two flushes at once never send a message twice (SKIP LOCKED claims)', async () => {
    await enqueue(20);
    const [a, b] = await Promise.all([
      cli(['outbox', 'flush', '--json'], { database: db, env: env(), clock: at(0) }),
      cli(['outbox', 'flush', '--json'], { database: db, env: env(), clock: at(0) }),
    ]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    expect(a.json().results.length + b.json().results.length).toBe(20);
    expect(relay.received).toHaveLength(20);
    for (const row of await rows()) expect(relay.acceptedCount(row.message_id!)).toBe(1);
  });

  it('shows a progress bar on a terminal only', async () => {
    await enqueue(3);
    const tty = await cli(['outbox', 'flush'], { database: db, env: env(), clock: at(0), interactive: true });
    expect(tty.code, tty.stderr).toBe(0);
    expect(tty.stderr).toMatch(/delivering mail \[#+\] 100% 3\/3/);
    await enqueue(3);
    const plain = await cli(['outbox', 'flush'], { database: db, env: env(), clock: at(0) });
    expect(plain.stderr).not.toMatch(/delivering mail/);
  });

  it('--dry-run sends nothing', async () => {
    await enqueue(2);
    const r = await cli(['outbox', 'flush', '--dry-run', '--json'], { database: db, env: env(), clock: at(0) });
    expect(r.json().results.map((x: { outcome: string }) => x.outcome)).toEqual(['would_send', 'would_send']);
    expect(relay.received).toHaveLength(0);
    expect((await rows()).every((x) => x.status === 'pending' && x.attempts === 0)).toBe(true);
    const one = await cli(['outbox', 'flush', '--limit', '1', '--json'], { database: db, env: env(), clock: at(0) });
    expect(one.json().results).toHaveLength(1);
    expect((await rows()).map((x) => x.status)).toEqual(['sent', 'pending']);
  });
});

describe('link minting at delivery', () => {
  afterEach(() => setLinkMinterForTest('reset', undefined));

  it('finds the reset and verify minters of the services, and none for other kinds', async () => {
    expect(typeof (await minterFor('reset'))).toBe('function');
    expect(typeof (await minterFor('verify'))).toBe('function');
    expect(await minterFor('notice')).toBeUndefined();
    expect(await minterFor('test')).toBeUndefined();
  });

  it('puts the minted link in the sent message only, and revokes it when the relay refuses', async () => {
    const events: string[] = [];
    let n = 0;
    setLinkMinterForTest('reset', async (_db, row) => {
      const url = `https://hmis.example.org/password/reset?token=SECRET${++n}&x=1`;
      events.push(`mint ${row.id}`);
      return { url, revoke: async (_k, reason) => void events.push(`revoke ${row.id} ${reason}`), delivered: async () => void events.push(`delivered ${row.id}`) };
    });
    const body = renderMail({ greeting: 'Hello,', paragraphs: ['Reset it.'], link: { label: 'Open this link' }, senderHint: FROM });
    const ok = await enqueueMail(db.knex, { kind: 'reset', to: 'a@agency.org', subject: 'Reset', ...body });
    const refused = await enqueueMail(db.knex, { kind: 'reset', to: 'gone@agency.org', subject: 'Reset', ...body });
    relay.refuse.add('gone@agency.org');
    const r = await cli(['outbox', 'flush', '--json'], { database: db, env: env(), clock: at(0) });
    expect(r.code).toBe(4);
    expect(r.stdout).not.toContain('SECRET');
    const mail = await simpleParser(relay.received[0]!.raw);
    expect(mail.text).toContain('https://hmis.example.org/password/reset?token=SECRET');
    expect(mail.html).toMatch(/<a href="https:\/\/hmis\.example\.org\/password\/reset\?token=SECRET\d&amp;x=1">https:/);
    expect(events).toContain(`delivered ${ok}`);
    expect(events).toContain(`revoke ${refused} relay refused the message`);
    const stored = JSON.stringify(await rows());
    expect(stored).not.toContain('SECRET');
    expect(stored).toContain('{{link}}');
  });
});

describe('DKIM and the .eml folder', () => {
  it('signs every message with a signature the public key verifies', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const keyFile = join(testRoot, `dkim-${process.pid}.pem`);
    writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    const dkimEnv = { ...env(), HMIS_DKIM_DOMAIN: 'hmis.example.org', HMIS_DKIM_SELECTOR: 'hmis2026', HMIS_DKIM_KEY_FILE: keyFile };
    const r = await cli(['mail', 'test', 'admin@agency.org', '--json'], { database: db, env: dkimEnv, clock: at(0) });
    expect(r.code, r.stderr).toBe(0);
    // No credentials in HMIS_SMTP_URL: nothing logged in, so not `authenticated`.
    expect(r.json()).toMatchObject({ connected: true, authenticated: false, sent: true, dkimSigned: true });
    const check = verifyDkim(relay.received[0]!.raw, publicKey.export({ type: 'spki', format: 'pem' }) as string);
    expect(check).toMatchObject({ ok: true, domain: 'hmis.example.org', selector: 'hmis2026' });
    expect(check.signed).toEqual(expect.arrayContaining(['from', 'subject', 'date', 'message-id', 'to']));
    // The verifier is not a rubber stamp: a changed header breaks the signature.
    const tampered = relay.received[0]!.raw.replace('Subject: HMIS mail test', 'Subject: HMIS mail tesT');
    expect(verifyDkim(tampered, publicKey.export({ type: 'spki', format: 'pem' }) as string).ok).toBe(false);
    const missing = await cli(['mail', 'test', 'admin@agency.org'], { database: db, env: { ...dkimEnv, HMIS_DKIM_KEY_FILE: '/nonexistent/key.pem' } });
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    expect(missing.stderr).toMatch(/HMIS_DKIM_KEY_FILE "\/nonexistent\/key\.pem" does not exist/);
  });

  it('without a relay writes a parseable .eml file and prints its path', async () => {
    await enqueue(1);
    const r = await cli(['outbox', 'flush', '--json'], { database: db, env: {}, clock: at(0) });
    expect(r.code, r.stderr).toBe(0);
    const path = /written to (\S+\.eml)/.exec(r.json().results[0].message)?.[1];
    expect(path).toBeTruthy();
    const mail = await simpleParser(readFileSync(path!));
    expect(mail.messageId).toMatch(/@localhost>$/);
    expect(mail.text).toContain('Your HMIS account');
    expect(mail.headers.has('list-unsubscribe')).toBe(false);
    expect((await rows())[0]!.eml_path).toBe(path);
  });
});

describe('mail test', () => {
  it('logs in, sends through the outbox and audits; exit 1 with the relay down; exit 2 on junk', async () => {
    await relay.close();
    relay = await startRelay({ user: 'hmis', pass: 's3cret' });
    const r = await cli(['mail', 'test', 'admin@agency.org', '--json'], { database: db, env: env(), clock: at(0) });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toMatchObject({ relay: `smtp://127.0.0.1:${relay.port}`, connected: true, authenticated: true, sent: true, dkimSigned: false });
    expect(r.stdout).not.toContain('s3cret');
    expect(relay.acceptedCount(r.json().messageId)).toBe(1);
    const audit = await db.knex('audit_log').where({ action: 'mail.test' });
    expect(audit).toHaveLength(1);
    expect(JSON.stringify(audit[0].details)).toContain('a***@agency.org');

    const badLogin = await cli(['mail', 'test', 'admin@agency.org', '--json'], { database: db, env: { ...env(), HMIS_SMTP_URL: `smtp://hmis:wrong@127.0.0.1:${relay.port}` } });
    expect(badLogin.code).toBe(1);
    expect(badLogin.json()).toMatchObject({ connected: true, authenticated: false, sent: false });

    const down = await cli(['mail', 'test', 'admin@agency.org', '--json'], { database: db, env: { HMIS_SITE_URL: 'https://hmis.test.example.org', HMIS_SMTP_URL: `smtp://127.0.0.1:${await deadPort()}`, HMIS_MAIL_FROM: FROM } });
    expect(down.code).toBe(1);
    expect(down.json()).toMatchObject({ connected: false, sent: false });
    for (const junk of ['not-an-address', 'a@b', 'x@y.org, z@w.org', 'a b@c.org', 'a@c.org\r\nBcc: x@y.org']) {
      const j = await cli(['mail', 'test', junk], { database: db, env: env() });
      expect(j.code, junk).toBe(2);
    }
  });
});
