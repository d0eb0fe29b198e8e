/**
 * A misconfigured `outbox flush` refuses to start whatever is queued (exit 2, nothing claimed), and its
 * --dry-run runs the same checks: a cron line without HMIS_SITE_URL shows on the first run, not on the
 * first day a reset link is queued. Real relay, both databases.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { renderMail } from '../../src/mail/compose.js';
import { enqueueMail } from '../../src/mail/outbox.js';
import { cli } from '../helpers/cli.js';
import { openTestDb, type TestDb } from '../helpers/db.js';
import { FROM, seedUsers, SITE } from '../helpers/links.js';
import { startRelay, type TestRelay } from '../helpers/smtp.js';

let db: TestDb;
let relay: TestRelay;
let ids: Record<string, number>;
// HMIS_SITE_URL left out, as in a cron line that forgot it; with a relay even the embedded database needs it.
const env = () => ({ ...db.env, HMIS_SMTP_URL: relay.url, HMIS_MAIL_FROM: FROM });
const run = (args: string[], extra: Record<string, string> = {}) => cli(args, { database: db, env: { ...env(), ...extra } });
const body = renderMail({ greeting: 'Hello,', paragraphs: ['Your agreement expires soon.'], senderHint: FROM });

beforeAll(async () => {
  db = await openTestDb();
  relay = await startRelay();
});
afterAll(async () => {
  await relay?.close();
  await db?.close();
});
beforeEach(async () => {
  await db.reset();
  ids = await seedUsers(db.knex, [{ username: 'alice' }]);
});

describe('outbox flush without HMIS_SITE_URL', () => {
  it('refuses when only a reminder is due: exit 2 naming the variable, nothing claimed or sent', async () => {
    await enqueueMail(db.knex, { kind: 'reminder', userId: ids.alice!, to: 'alice@agency.test.example.org', subject: 'Reminder', ...body });
    const r = await run(['outbox', 'flush']);
    expect(r.code, r.stdout).toBe(2);
    expect(r.stderr).toMatch(/HMIS_SITE_URL/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(relay.received).toHaveLength(0);
    const row = await db.knex('mail_outbox').first();
    expect(row).toMatchObject({ status: 'pending', attempts: 0 });
  });

  it('refuses when nothing is due at all', async () => {
    const r = await run(['-q', 'outbox', 'flush']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/HMIS_SITE_URL/);
  });

  it('--dry-run runs the same checks: exit 2, not `would_send`', async () => {
    await enqueueMail(db.knex, { kind: 'reset', userId: ids.alice!, to: 'alice@agency.test.example.org', subject: 'Reset', ...body, params: { ttlMs: 3_600_000 } });
    const r = await run(['outbox', 'flush', '--dry-run', '--json']);
    expect(r.code, r.stdout).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/HMIS_SITE_URL/);
    const ok = await run(['outbox', 'flush', '--dry-run', '--json'], { HMIS_SITE_URL: SITE });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.json().results.map((x: { outcome: string }) => x.outcome)).toEqual(['would_send']);
  });
});
