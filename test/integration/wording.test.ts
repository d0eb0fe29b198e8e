/**
 * What people read (issue 10): times in one format, result lines that never say a word twice, summaries
 * that agree with the lines above them, and warnings where a placeholder stands in for the real site.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { openTestDb, type TestDb } from '../helpers/db.js';
import { seedAgency, seedUser } from '../helpers/lockout-seed.js';

const NOW = new Date('2026-11-28T16:24:47.457Z');
const DAY = 86_400_000;
const RAW_ISO = /\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?(\.\d+)?Z/;

let db: TestDb;
const run = (args: string[], env: Record<string, string> = {}) => cli(args, { database: db, clock: () => NOW, env });

beforeAll(async () => {
  db = await openTestDb();
});
afterAll(async () => db?.close());
beforeEach(async () => {
  await db.reset();
});

/** "jdoe: unlocked - unlocked (…)", "would_send - would send": the message may not begin with the outcome's words. */
function doubled(stdout: string): string[] {
  return stdout.split('\n').filter((line) => {
    const m = /^\S+: (\S+) - (.*)$/.exec(line);
    if (!m) return false;
    const words = m[1]!.split('_');
    return m[2]!.toLowerCase().split(/[\s:(;,]+/).slice(0, words.length).join(' ') === words.join(' ');
  });
}

describe('times for people', () => {
  it('messages say 2026-11-28 16:24 UTC, never a raw ISO string; JSON keeps ISO', async () => {
    await seedUser(db.knex, { username: 'jdoe', lockedAt: new Date(NOW.getTime() - DAY), lockReason: 'admin' });
    const again = await run(['lock', 'jdoe', '--reason', 'left the agency']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/already locked by an administrator since 2026-11-27 16:24 UTC; nothing changed/);
    const bulk = await run(['unlock', '--all', '--reason', 'admin', '--dry-run']);
    const show = await run(['users', 'show', 'jdoe']);
    expect(show.stdout).toMatch(/locked \(admin\) since 2026-11-27 16:24 UTC/);
    for (const r of [again, bulk, show]) expect(r.stdout + r.stderr).not.toMatch(RAW_ISO);
    expect((await run(['users', 'show', 'jdoe', '--json'])).json().account.lockedAt).toBe('2026-11-27T16:24:47.457Z');
  });

  it('reset check explains an expired link in the same format', async () => {
    const id = await seedUser(db.knex, { username: 'jdoe' });
    const send = await run(['reset', 'send', 'jdoe', '--print-link']);
    expect(send.code, send.stderr).toBe(0);
    expect(send.stdout).toMatch(/until about 2026-11-28 17:24 UTC/);
    const link = /^link: (\S+)$/m.exec(send.stdout)![1]!;
    await db.knex('password_reset_tokens').where('user_id', id).update({ expires_at: new Date(NOW.getTime() - 60_000) });
    const r = await run(['reset', 'check', link]);
    expect(r.code).toBe(5);
    expect(r.stdout).toMatch(/expired at 2026-11-28 16:23 UTC \(sent 2026-11-28 16:24 UTC\)/);
    expect(r.stdout).not.toMatch(RAW_ISO);
    await db.knex('password_reset_tokens').where('user_id', id).update({ used_at: new Date(NOW.getTime() - 120_000) });
    expect((await run(['reset', 'list', 'jdoe'])).stdout).toMatch(/ used 2026-11-28 16:22 UTC /);
  });
});

describe('result lines say each thing once', () => {
  it('unlock, not_locked, would_unlock, lock, would_lock, reminders and agreement dry runs', async () => {
    const agency = await seedAgency(db.knex);
    await seedUser(db.knex, { username: 'jdoe', lockedAt: NOW, lockReason: 'failed_logins', failed: 3, agencyId: agency });
    await seedUser(db.knex, { username: 'open', agencyId: agency, expiresAt: new Date(NOW.getTime() + DAY) });
    const lines: string[] = [];
    for (const args of [
      ['unlock', '--all', '--dry-run'],
      ['unlock', 'jdoe'],
      ['unlock', 'jdoe'],
      ['lock', 'open', '--reason', 'left', '--dry-run'],
      ['expiring', '--notify', '--dry-run'],
      ['agreement', 'sign', 'open', '--by', 'director', '--dry-run'],
      ['reset', 'send', 'jdoe', '--dry-run'],
      ['email', 'set', 'jdoe', 'jane@agency.org', '--dry-run'],
      ['email', 'verify', 'jdoe', '--dry-run'],
      ['lock', 'open', '--reason', 'left'],
    ]) {
      const r = await run(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      lines.push(...r.stdout.split('\n').filter(Boolean));
    }
    expect(lines.length).toBeGreaterThanOrEqual(10);
    expect(doubled(lines.join('\n'))).toEqual([]);
    expect(lines.join('\n')).not.toMatch(/\b1 days\b|would record: .* recorded/);
    expect(lines).toContain('jdoe: unlocked - was locked: failed_logins; failed logins reset from 3 to 0');
    expect(lines.join('\n')).toMatch(/open: would_send - the 1-day reminder \(1 day left, expires 2026-11-29;/);
    expect(lines.join('\n')).toMatch(/open: would_sign - would record the director signature \(2026-11-28\); still missing: user, supervisor/);
  });

  it('diagnose: "the last link was", not "1 of the last 1 links were"', async () => {
    const id = await seedUser(db.knex, { username: 'msmith' });
    await run(['reset', 'send', 'msmith'], { HMIS_SITE_URL: 'https://old.example.org' });
    expect(await db.knex('password_reset_tokens').where('user_id', id).count({ n: '*' })).toEqual([{ n: expect.anything() }]);
    const r = await run(['diagnose', 'msmith'], { HMIS_SITE_URL: 'https://hmis.example.org' });
    expect(r.stdout).toMatch(/the last link was built for https:\/\/old\.example\.org/);
  });
});

describe('summaries agree with the lines above them', () => {
  it('expiring --notify --dry-run counts would_send (table and JSON)', async () => {
    const agency = await seedAgency(db.knex);
    for (const d of [1, 6, 13]) await seedUser(db.knex, { username: `due${d}`, agencyId: agency, expiresAt: new Date(NOW.getTime() + d * DAY) });
    const r = await run(['expiring', '--notify', '--dry-run']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.match(/would_send/g)).toHaveLength(3);
    expect(r.stderr).toMatch(/^3 would be sent \(dry run: nothing sent\), 0 already reminded/m);
    expect(r.stderr).not.toMatch(/0 sent, 0 queued/);
    expect((await run(['expiring', '--notify', '--dry-run', '--json'])).json().counts).toEqual({ wouldSend: 3, alreadySent: 0 });
  });

  it('diagnose names the failed site check even when a new link would work', async () => {
    await seedUser(db.knex, { username: 'msmith' });
    await run(['reset', 'send', 'msmith'], { HMIS_SITE_URL: 'https://old.example.org' });
    const r = await run(['diagnose', 'msmith'], { HMIS_SITE_URL: 'https://hmis.example.org' });
    expect(r.code).toBe(5);
    expect(r.stdout).toMatch(/^ {2}fail {2}site/m);
    const first = r.stdout.split('\n')[0]!;
    expect(first).toBe('msmith: site failed, but a new reset link sent now would reach the person and work: send one (fix below)');
  });
});

describe.skipIf(Boolean(process.env.HMIS_TEST_DATABASE_URL))('the placeholder site (embedded database)', () => {
  it('reset check warns that the "right" site is only the placeholder', async () => {
    const r = await run(['reset', 'check', 'https://evil.example.com/password/reset?token=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa']);
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/^warning: HMIS_SITE_URL is not set: links are checked against the placeholder https:\/\/hmis\.example\.org/m);
    const set = await run(['reset', 'check', 'https://evil.example.com/password/reset?token=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'], { HMIS_SITE_URL: 'https://hmis.agency.org' });
    expect(set.stderr).not.toMatch(/placeholder/);
  });
});

describe('tables', () => {
  it('REASON and STATUS show the values --reason takes', async () => {
    await seedUser(db.knex, { username: 'a1', lockedAt: NOW, lockReason: 'failed_logins', failed: 3 });
    await seedUser(db.knex, { username: 'a2', lockedAt: NOW, lockReason: 'agreement_expired' });
    const locked = await run(['locked']);
    expect(locked.stdout).toMatch(/a1 .* failed_logins /);
    expect(locked.stdout).toMatch(/a2 .* agreement_expired /);
    expect((await run(['users', 'list'])).stdout).toMatch(/a1 .* locked \(failed_logins\)$/m);
    for (const reason of ['failed_logins', 'agreement_expired']) expect((await run(['locked', '--reason', reason])).code).toBe(0);
  });

  it('audit keeps an action whole on a narrow terminal, and cuts nothing off one', async () => {
    await seedUser(db.knex, { username: 'jdoe' });
    await run(['reset', 'send', 'jdoe', '--print-link', '--ticket', 'HD-1234']);
    const narrow = await cli(['audit'], { database: db, clock: () => NOW, columns: 80 });
    expect(narrow.stdout).toMatch(/ reset\.link_printed /);
    for (const line of narrow.stdout.trimEnd().split('\n')) expect(line.length, line).toBeLessThanOrEqual(80);
    const piped = await run(['audit']);
    expect(piped.stdout).not.toContain('…');
    expect(piped.stdout).toMatch(/linkId=\d+ outboxId=\d+$/m);
  });

  it('an admin unlock with no failed logins does not say "reset from 0 to 0"', async () => {
    await seedUser(db.knex, { username: 'adm', lockedAt: new Date(NOW.getTime() - DAY), lockReason: 'admin' });
    const r = await run(['unlock', 'adm']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(/from 0 to 0/);
    await seedUser(db.knex, { username: 'fl', lockedAt: new Date(NOW.getTime() - DAY), lockReason: 'failed_logins', failed: 3 });
    expect((await run(['unlock', 'fl'])).stdout).toMatch(/failed logins reset from 3 to 0/);
  });

  it('a date-time without a zone is refused as needing one, not as "not a date"', async () => {
    await seedUser(db.knex, { username: 'sig' });
    const r = await run(['agreement', 'sign', 'sig', '--by', 'user', '--date', '2026-11-20T09:00:00']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/needs a time zone/);
    expect(r.stderr).not.toMatch(/is not a date/);
  });

  it('the "no HMIS database" message mentions a .env in the working directory', async () => {
    const r = await cli(['locked'], { env: {} });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no HMIS database/);
    expect(r.stderr).toMatch(/\.env/);
  });
});
