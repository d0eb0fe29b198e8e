/**
 * --quiet from cron: silent when everything succeeded or there was nothing to do (cron mails only output);
 * otherwise a bulk table lists only what did not succeed, then one summary line. JSON and CSV keep every row.
 */
import { describe, expect, it } from 'vitest';
import { renderMail } from '../../src/mail/compose.js';
import { enqueueMail } from '../../src/mail/outbox.js';
import { cli } from '../helpers/cli.js';
import type { TestDb } from '../helpers/db.js';
import { HOSTS, insertAccounts, lockedCount } from '../helpers/hosts.js';
import { useHostDb } from '../helpers/host-suite.js';
import { mailDir, seedUser } from '../helpers/lockout-seed.js';

let db: TestDb;
let env: Record<string, string>;
const NOW = new Date('2027-03-10T15:00:00Z');
const LOCKED = new Date('2027-03-09T10:00:00Z');

const run = (args: string[]) => cli(args, { database: db, env, clock: () => NOW });

describe.each(HOSTS)('on the %s host', (host) => {
useHostDb(host, (d) => {
  db = d;
  env = { ...d.env, HMIS_DATA_DIR: mailDir(), HMIS_SITE_URL: 'https://hmis.example.org' };
});

describe('--quiet on bulk results', () => {
  it('`-q expire --yes` prints nothing when every account expired, or none was due', async () => {
    // Each with its own address: a Devise users.email is never null and unique.
    await insertAccounts(db.knex, Array.from({ length: 40 }, (_, i) => ({ username: `old${i + 1}`, first_name: 'Old', last_name: 'Test', email: `old${i + 1}@harbor.example.org`, account_expires_at: new Date('2027-03-01T00:00:00Z') })));
    const r = await run(['-q', 'expire', '--yes']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('');
    expect(await lockedCount(db.knex)).toBe(40); // silent, and every one expired
    const again = await run(['-q', 'expire', '--yes']);
    expect(again.code).toBe(0);
    expect(again.stdout + again.stderr).toBe('');
  });

  it('lists the rows that did not succeed, then the summary; JSON and CSV keep every row', async () => {
    await seedUser(db.knex, { username: 'a1', lockedAt: LOCKED, lockReason: 'failed_logins', failed: 3 });
    await seedUser(db.knex, { username: 'a2', lockedAt: LOCKED, lockReason: 'agreement_expired' });
    await seedUser(db.knex, { username: 'a3', lockedAt: LOCKED, lockReason: 'failed_logins', failed: 3 });
    const r = await run(['-q', 'unlock', 'a1', 'nobody', 'a2', '--yes', '--dry-run']);
    expect(r.code).toBe(4);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.map((l) => l.split(' - ')[0])).toEqual(['nobody: not_found', 'a2: refused', '3 results: 1 would_unlock, 1 not_found, 1 refused']);
    expect(r.stderr).toMatch(/2 of 3 accounts did not succeed/); // the error line stays: -q silences notices, not failures
    const json = await run(['-q', 'unlock', 'a1', 'nobody', 'a2', '--yes', '--dry-run', '--json']);
    expect(json.json().results.map((x: { outcome: string }) => x.outcome)).toEqual(['would_unlock', 'not_found', 'refused']);
    const csv = await run(['-q', 'unlock', 'a1', 'nobody', 'a2', '--yes', '--dry-run', '--format', 'csv']);
    expect(csv.stdout.trimEnd().split('\n')).toHaveLength(4);
    // One named account is not bulk work: its line is shown as always.
    const one = await run(['-q', 'unlock', 'a3']);
    expect(one.stdout).toMatch(/^a3: unlocked - /);
  });

  it('`-q outbox flush` lists only the messages that failed, then the summary', async () => {
    const body = renderMail({ greeting: 'Hello,', paragraphs: ['A notice.'], senderHint: 'hmis@example.org' });
    await enqueueMail(db.knex, { kind: 'notice', to: 'fine@agency.org', subject: 'One', ...body });
    await enqueueMail(db.knex, { kind: 'notice', to: 'victim@agency.org, attacker@evil.example', subject: 'Two', ...body });
    const r = await run(['-q', 'outbox', 'flush']);
    expect(r.code).toBe(4);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/: failed - /);
    expect(lines[1]).toBe('2 results: 1 sent, 1 failed');
  });

  it('`-q outbox flush` prints nothing when every message went out, or nothing was due', async () => {
    const body = renderMail({ greeting: 'Hello,', paragraphs: ['A notice.'], senderHint: 'hmis@example.org' });
    await enqueueMail(db.knex, { kind: 'notice', to: 'fine@agency.org', subject: 'One', ...body });
    const r = await run(['-q', 'outbox', 'flush']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toBe('');
    const none = await run(['-q', 'outbox', 'flush']);
    expect(none.code).toBe(0);
    expect(none.stdout + none.stderr).toBe('');
    // Without -q the summary of a run is still there.
    await enqueueMail(db.knex, { kind: 'notice', to: 'fine@agency.org', subject: 'Two', ...body });
    expect((await run(['outbox', 'flush'])).stdout).toMatch(/fine@agency\.org|sent/);
  });
});

});
