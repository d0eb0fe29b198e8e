import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { onServer, type TestDb } from '../helpers/db.js';
import { HOSTS, insertAccounts, lockedCount, loginsOf, updateAccount, userRow } from '../helpers/hosts.js';
import { useHostDb } from '../helpers/host-suite.js';
import { count, mailDir, seedAgency, seedUser } from '../helpers/lockout-seed.js';

let db: TestDb;
let env: Record<string, string>;
const NOW = new Date('2027-03-10T15:00:00Z');
const DAY = 86_400_000;
const at = (days: number, hour = 0) => new Date(Date.UTC(2027, 2, 10 + days, hour));

const run = (args: string[], clock: () => Date = () => NOW) => cli(args, { database: db, env, clock });
const user = (name: string) => userRow(db.knex, name);

describe.each(HOSTS)('on the %s host', (host) => {
useHostDb(host, (d) => {
  db = d;
  env = { ...d.env, HMIS_DATA_DIR: mailDir() };
});

describe('expiring', () => {
  beforeEach(async () => {
    const agency = await seedAgency(db.knex);
    const sup = await seedUser(db.knex, { username: 'boss', agencyId: agency, expiresAt: at(300) });
    const mk = (username: string, expiresAt: Date) => seedUser(db.knex, { username, expiresAt, agencyId: agency, supervisorId: sup });
    await mk('past3', at(-3));
    await mk('earlier_today', at(0, 10));
    await mk('later_today', at(0, 20));
    await mk('tomorrow', at(1, 23));
    const d14 = await mk('d14', at(14));
    await mk('d30', at(30, 23));
    await mk('d31', at(31));
    await db.knex('user_agreements').insert({ user_id: d14, term_started_at: at(-351), user_signed_at: at(-2), user_signed_by: 'x' });
  });

  it('lists by UTC calendar days left, soonest first, with missing signatures', async () => {
    const r = await run(['expiring', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const rows = r.json<Array<Record<string, unknown>>>();
    expect(rows.map((x) => [x.username, x.daysLeft])).toEqual([
      ['later_today', 0],
      ['tomorrow', 1],
      ['d14', 14],
      ['d30', 30],
    ]);
    expect(Object.keys(rows[0]!).slice(-2)).toEqual(['daysLeft', 'missingSignatures']);
    expect(rows.find((x) => x.username === 'd14')!.missingSignatures).toEqual(['supervisor', 'director']);
    expect(rows[0]!.missingSignatures).toEqual(['user', 'supervisor', 'director']);
  });

  it('--include-expired adds the expired ones with negative days; --within narrows', async () => {
    const all = (await run(['expiring', '--include-expired', '--within', '1d', '--json'])).json<Array<{ username: string; daysLeft: number }>>();
    expect(all.map((x) => [x.username, x.daysLeft])).toEqual([
      ['past3', -3],
      ['earlier_today', 0],
      ['later_today', 0],
      ['tomorrow', 1],
    ]);
  });

  it('--fail-if-any exits 5 after printing; an empty list exits 0; an unknown agency exits 2', async () => {
    const r = await run(['expiring', '--fail-if-any', '--json']);
    expect(r.code).toBe(5);
    expect(r.json()).toHaveLength(4);
    expect(r.stderr).toMatch(/4 account\(s\) listed: the agreement expires within 30d$/m);
    await seedAgency(db.knex, 'Quiet Agency', null);
    const none = await run(['expiring', '--fail-if-any', '--agency', 'quiet agency', '--json']);
    expect([none.code, none.json()]).toEqual([0, []]);
    expect((await run(['expiring', '--agency', 'Nowhere'])).code).toBe(2);
    expect((await run(['expiring', '--within', 'soon'])).code).toBe(2);
  });

  it('table output fits an 80-column terminal', async () => {
    const r = await cli(['expiring', '--include-expired'], { database: db, env, clock: () => NOW, columns: 80 });
    expect(r.code).toBe(0);
    for (const line of r.stdout.trimEnd().split('\n')) expect(line.length, line).toBeLessThanOrEqual(80);
  });
});

/** Reminders sent so far: username → stages in the order sent, with the UTC day each went out. */
async function sent(): Promise<Record<string, Array<[number, string]>>> {
  const rows = (await db.knex('agreement_reminders').orderBy('id').select('user_id', 'stage_days', 'sent_at')) as Array<{ user_id: number; stage_days: number; sent_at: Date }>;
  const names = await loginsOf(db.knex, rows.map((r) => Number(r.user_id)));
  const out: Record<string, Array<[number, string]>> = {};
  for (const r of rows) (out[names.get(Number(r.user_id))!] ??= []).push([Number(r.stage_days), r.sent_at.toISOString().slice(0, 10)]);
  return out;
}

describe('expiring --notify', () => {
  const tz = process.env.TZ;
  beforeAll(() => {
    process.env.TZ = 'America/New_York'; // the host's zone must not matter
  });
  afterAll(() => {
    if (tz === undefined) delete process.env.TZ;
    else process.env.TZ = tz;
  });

  async function seedTwo(expiries: Record<string, string>) {
    const agency = await seedAgency(db.knex);
    const sup = await seedUser(db.knex, { username: 'boss', email: 'boss@harbor.example.org', agencyId: agency, expiresAt: new Date('2029-01-01T00:00:00Z') });
    for (const [username, exp] of Object.entries(expiries)) await seedUser(db.knex, { username, expiresAt: new Date(exp), agencyId: agency, supervisorId: sup });
  }

  async function simulate(fromIso: string, days: number, runsOn: (day: number) => number[]) {
    const start = Date.parse(fromIso);
    for (let day = 0; day < days; day++) {
      for (const hour of runsOn(day)) {
        const t = new Date(start + day * DAY + hour * 3_600_000);
        const r = await run(['expiring', '--notify', '--yes', '--json'], () => t);
        expect(r.code, `${t.toISOString()}: ${r.stderr}`).toBe(0);
      }
    }
  }

  it('daily runs (twice on some days) through the March DST weeks send each stage once, on its day', async () => {
    await seedTwo({ spring: '2027-03-25T00:00:00Z', london: '2027-04-02T18:30:00Z' });
    await simulate('2027-02-15T00:00:00Z', 48, (d) => (d % 3 === 0 ? [0.25, 23.75] : [12]));
    const s = await sent();
    expect(s.spring).toEqual([[30, '2027-02-23'], [14, '2027-03-11'], [7, '2027-03-18'], [1, '2027-03-24']]);
    expect(s.london).toEqual([[30, '2027-03-03'], [14, '2027-03-19'], [7, '2027-03-26'], [1, '2027-04-01']]);
    expect(s.boss).toBeUndefined();
    expect(await count(db.knex('mail_outbox').where('kind', 'reminder'))).toBe(8);
  });

  it('daily runs through the November DST weeks, then a renewal starts the stages afresh', async () => {
    await seedTwo({ fall: '2027-11-12T05:00:00Z' });
    await simulate('2027-10-05T00:00:00Z', 40, (d) => (d % 2 ? [1, 22] : [9]));
    expect((await sent()).fall).toEqual([[30, '2027-10-13'], [14, '2027-10-29'], [7, '2027-11-05'], [1, '2027-11-11']]);
    await updateAccount(db.knex, 'fall', { account_expires_at: new Date('2028-11-12T05:00:00Z') });
    await simulate('2028-10-13T00:00:00Z', 1, () => [8]);
    expect((await sent()).fall!.slice(4)).toEqual([[30, '2028-10-13']]);
  });

  it('a run after missed days sends the stage due now, once; stages whose window passed unrun are not sent late', async () => {
    await seedTwo({ gappy: '2027-06-30T00:00:00Z', sparse: '2027-06-30T00:00:00Z' });
    await updateAccount(db.knex, 'sparse', { account_expires_at: new Date('2027-06-30T00:00:01Z') });
    const runAt = async (iso: string) => {
      const r = await run(['expiring', '--notify', '--yes', '--json'], () => new Date(iso));
      expect(r.code, r.stderr).toBe(0);
      return r.json().results as Array<{ user: string; outcome: string; message: string }>;
    };
    expect(await runAt('2027-05-20T09:00:00Z')).toEqual([]); // 41 days left: nothing due
    const first = await runAt('2027-06-10T09:00:00Z'); // 20 days left: the 30-day stage
    expect(first.map((x) => [x.user, x.outcome])).toEqual([['gappy', 'sent'], ['sparse', 'sent']]);
    expect(await runAt('2027-06-10T21:00:00Z')).toEqual([]); // same day again: nothing twice
    await runAt('2027-06-21T09:00:00Z'); // 9 days left: 14
    await runAt('2027-06-27T09:00:00Z'); // 3 days left: 7
    await runAt('2027-06-30T00:00:00Z'); // the day itself: 1 for "sparse" (not yet expired); gappy expired at that instant
    const s = await sent();
    expect(s.gappy).toEqual([[30, '2027-06-10'], [14, '2027-06-21'], [7, '2027-06-27']]);
    expect(s.sparse).toEqual([[30, '2027-06-10'], [14, '2027-06-21'], [7, '2027-06-27'], [1, '2027-06-30']]);
  });

  it('goes to the user, copied to the supervisor and the Executive Director, naming the missing signatures', async () => {
    await seedTwo({ jdoe: '2027-03-17T00:00:00Z' });
    const jd = await user('jdoe');
    await db.knex('user_agreements').insert({ user_id: jd.id, term_started_at: new Date('2026-03-17T00:00:00Z'), supervisor_signed_at: new Date('2027-03-01T00:00:00Z') });
    const r = await run(['expiring', '--notify', '--yes', '--json', '--ticket', 'HD-77']);
    expect(r.json().results).toEqual([{ user: 'jdoe', outcome: 'sent', message: expect.stringMatching(/^7-day reminder \(7 days left, expires 2027-03-17; missing: user, director\); reminder sent/) }]);
    const audit = await db.knex('audit_log').where('action', 'reminder.sent');
    expect(audit).toHaveLength(1);
    expect({ ...audit[0], user_id: Number(audit[0].user_id) }).toMatchObject({ user_id: jd.id, ticket: 'HD-77' });
    expect(JSON.stringify(audit[0].details)).toContain('j***@harbor.example.org');
    const mail = await db.knex('mail_outbox').where('kind', 'reminder').first();
    expect(mail.to_address).toBe('jdoe@harbor.example.org');
    expect(typeof mail.cc === 'string' ? JSON.parse(mail.cc) : mail.cc).toEqual(['boss@harbor.example.org', 'ed@harbor.example.org']);
    expect(mail.subject).toBe('Your HMIS account expires in 7 days (2027-03-17)');
    expect(mail.text_body).toMatch(/Still missing: your own signature; your agency's Executive Director's signature\./);
    const dry = await run(['expiring', '--notify', '--dry-run', '--json'], () => new Date('2027-03-16T10:00:00Z'));
    expect(dry.json().results.map((x: { outcome: string }) => x.outcome)).toEqual(['would_send']);
    expect(await count(db.knex('agreement_reminders'))).toBe(1);
  });
});

describe('expire', () => {
  async function seedExpired(n: number) {
    const agency = await seedAgency(db.knex);
    const sup = await seedUser(db.knex, { username: 'boss', agencyId: agency, expiresAt: at(200) });
    await insertAccounts(
      db.knex,
      Array.from({ length: n }, (_, j) => ({
        username: `old${j + 1}`, first_name: 'Old', email: `old${j + 1}@harbor.example.org`, account_expires_at: new Date(NOW.getTime() - (j + 1) * 3_600_000), agency_id: agency, supervisor_id: sup,
      })),
    );
    await seedUser(db.knex, { username: 'lockedalready', expiresAt: at(-5), lockedAt: at(-1), lockReason: 'failed_logins' });
    await seedUser(db.knex, { username: 'leaver', expiresAt: at(-5), lockedAt: at(-1), lockReason: 'admin' });
    await seedUser(db.knex, { username: 'fine', expiresAt: at(5) });
  }

  it('locks every expired unlocked account once, audits and notifies each; a second run finds nothing', async () => {
    await seedExpired(5);
    const r = await run(['expire', '--yes', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const body = r.json();
    expect(body.running).toBe(false);
    expect(body.counts).toEqual({ expired: 5, failed: 0 });
    expect(body.results.map((x: { outcome: string }) => x.outcome)).toEqual(Array(5).fill('expired'));
    expect(body.results[0].message).toMatch(/agreement expired on 2027-03-10; missing: user, supervisor, director; renew with `hmis-admin agreement sign old1 --by user/);
    expect(await lockedCount(db.knex, 'agreement_expired')).toBe(5);
    expect((await user('lockedalready')).lock_reason).toBe('failed_logins');
    // An administrator's lock is never overwritten by the expiry lock.
    const leaver = await user('leaver');
    expect({ lock_reason: leaver.lock_reason, locked_at: leaver.locked_at }).toEqual({ lock_reason: 'admin', locked_at: at(-1).toISOString() });
    expect(await count(db.knex('audit_log').where('action', 'lock'))).toBe(5);
    const mail = await db.knex('mail_outbox').where('to_address', 'old1@harbor.example.org').first();
    expect(mail.subject).toMatch(/locked: the user agreement has expired/);
    expect(JSON.stringify(mail.cc)).toMatch(/boss@harbor.example.org/);
    const again = await run(['expire', '--yes', '--json']);
    expect(again.json()).toEqual({ results: [], running: false, counts: { expired: 0, failed: 0 } });
  });

  it('without a terminal it needs --yes (exit 2, nothing changed); --notify too', async () => {
    await seedExpired(2);
    const r = await run(['expire', '--json']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/`expire` needs confirmation; rerun with --yes/);
    expect(r.stdout).toBe('');
    const n = await run(['expiring', '--notify']);
    expect(n.code).toBe(2);
    expect(await lockedCount(db.knex, 'agreement_expired')).toBe(0);
    expect(await count(db.knex('audit_log'))).toBe(0);
    expect(await count(db.knex('mail_outbox'))).toBe(0);
  });

  it('without a terminal and --yes both refuse at start even on a day with nothing due, so a broken cron line shows at once', async () => {
    for (const args of [['expire'], ['-q', 'expire'], ['expiring', '--notify'], ['-q', 'expiring', '--notify'], ['unlock', '--all']]) {
      const r = await run(args);
      expect(r.code, `${args.join(' ')}: ${r.stdout}${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(/needs confirmation; rerun with --yes/);
    }
    expect((await run(['expire', '--dry-run'])).code).toBe(0);
    expect((await run(['expire', '--yes'])).code).toBe(0);
  });

  it('--dry-run changes nothing', async () => {
    await seedExpired(3);
    const r = await run(['expire', '--dry-run', '--json']);
    expect(r.json().results.map((x: { outcome: string }) => x.outcome)).toEqual(Array(3).fill('would_expire'));
    expect(await lockedCount(db.knex, 'agreement_expired')).toBe(0);
    expect(await count(db.knex('audit_log'))).toBe(0);
  });

  it('two runs at once: one does the work, the other finds the job running (server); never double work', async () => {
    await seedExpired(150);
    const [a, b] = await Promise.all([run(['expire', '--yes', '--json']), run(['expire', '--yes', '--json'])]);
    expect([a.code, b.code]).toEqual([0, 0]);
    const bodies = [a.json(), b.json()];
    expect(bodies[0].counts.expired + bodies[1].counts.expired).toBe(150);
    if (onServer) {
      expect(bodies.map((x) => x.running).sort()).toEqual([false, true]);
      const idle = [a, b][bodies.findIndex((x) => x.running)]!;
      expect(idle.stderr).toMatch(/found the job running/);
    }
    expect(await count(db.knex('audit_log').where('action', 'lock'))).toBe(150);
    expect(await count(db.knex('mail_outbox'))).toBe(150);
  });
});

});
