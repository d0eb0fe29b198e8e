/**
 * Every recipient of a message either gets it exactly once or is reported: a relay that refuses some
 * recipients at RCPT (451 for now, 550 for good) while accepting the others. Reminders go to the user,
 * copied to the supervisor and the Executive Director, so they are the mail this matters for.
 *
 * HMIS_MEASURE_REMINDERS=1134 runs the load case at 1,134 reminders (3,402 deliveries) and prints the count.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { OutboxRow } from '../../src/mail/types.js';
import { cli } from '../helpers/cli.js';
import { seedAgency, seedUser } from '../helpers/lockout-seed.js';
import { HOSTS, insertAccounts } from '../helpers/hosts.js';
import { mailFixture, type MailFixture } from '../helpers/mail-fixture.js';
import { seededRcptFailures, type Received } from '../helpers/smtp.js';

const FROM = 'hmis-noreply@hmis.example.org';
const NOW = new Date('2027-03-10T15:00:00Z');
const MIN = 60_000;
let f: MailFixture;
const env = () => ({ ...f.db.env, HMIS_SITE_URL: 'https://hmis.test.example.org', HMIS_SMTP_URL: f.relay.url, HMIS_MAIL_FROM: FROM });
const run = (args: string[], t: Date = NOW) => cli(args, { database: f.db, env: env(), clock: () => t });
const cc = (row: OutboxRow) => (typeof row.cc === 'string' ? (JSON.parse(row.cc) as string[]) : row.cc);


/** Copies of message `id` the relay accepted for `address`. */
function copies(received: Received[]): (messageId: string, address: string) => number {
  const index = new Map<string, number>();
  for (const m of received) for (const to of m.to) index.set(`${m.messageId} ${to}`, (index.get(`${m.messageId} ${to}`) ?? 0) + 1);
  return (messageId, address) => index.get(`${messageId} ${address}`) ?? 0;
}

/** `n` users whose agreement expires in 7 days, a supervisor for every ten, one agency with a director. */
async function seedReminders(n: number): Promise<void> {
  const agency = await seedAgency(f.db.knex);
  const bosses: number[] = [];
  for (let i = 0; i < Math.ceil(n / 10); i++) bosses.push(await seedUser(f.db.knex, { username: `boss${i}`, agencyId: agency, expiresAt: new Date('2029-01-01T00:00:00Z') }));
  const expires = new Date(NOW.getTime() + 7 * 86_400_000);
  await insertAccounts(
    f.db.knex,
    Array.from({ length: n }, (_, j) => ({
      username: `u${j}`, first_name: `U${j}`, last_name: 'Test', email: `u${j}@harbor.example.org`, account_expires_at: expires, agency_id: agency, supervisor_id: bosses[j % bosses.length]!,
    })),
  );
}

describe.each(HOSTS)('on the %s host', (host) => {
const fx = mailFixture(host);
beforeAll(() => {
  f = fx;
});

describe('per-recipient refusals', () => {
  it('a deferred cc is retried alone; the others are not sent a second copy', async () => {
    await seedReminders(1);
    f.relay.defer.add('ed@harbor.example.org');
    const first = await run(['expiring', '--notify', '--yes', '--json']);
    expect(first.code, first.stderr).toBe(0);
    const [res] = first.json().results;
    expect(res.outcome).toBe('queued');
    expect(res.message).toMatch(/ed@harbor\.example\.org.*451/);
    // The outcome message quotes the detail in brackets already: no '(outbox flush) (only that recipient))'.
    expect(res.message).not.toMatch(/\) \(|\)\)/);
    expect(res.message).toMatch(/for that recipient only/);
    expect(f.relay.received.map((m) => m.to)).toEqual([['u0@harbor.example.org', 'boss0@harbor.example.org']]);
    let row = (await f.db.knex('mail_outbox').where('kind', 'reminder').first()) as OutboxRow;
    expect(row.status).toBe('pending');

    const listed = (await run(['outbox', '--json'])).json()[0];
    expect(listed.recipients).toEqual([
      { address: 'u0@harbor.example.org', role: 'to', status: 'sent', response: expect.stringMatching(/^250/) },
      { address: 'boss0@harbor.example.org', role: 'cc', status: 'sent', response: expect.stringMatching(/^250/) },
      { address: 'ed@harbor.example.org', role: 'cc', status: 'pending', response: expect.stringMatching(/^451 4\.2\.1/) },
    ]);

    f.relay.defer.clear();
    const again = await run(['outbox', 'flush', '--json'], new Date(NOW.getTime() + MIN));
    expect(again.code, again.stderr).toBe(0);
    expect(again.json().results[0].outcome).toBe('sent');
    expect(f.relay.received).toHaveLength(2);
    const retry = f.relay.received[1]!;
    expect(retry.to).toEqual(['ed@harbor.example.org']);
    // The same message: headers still name everyone, with the same Message-ID.
    expect(retry.messageId).toBe(f.relay.received[0]!.messageId);
    expect(retry.raw).toMatch(/^To: u0@harbor\.example\.org/m);
    expect(retry.raw).toMatch(/^Cc: boss0@harbor\.example\.org, ed@harbor\.example\.org/m);
    row = (await f.db.knex('mail_outbox').where('kind', 'reminder').first()) as OutboxRow;
    expect(row.status).toBe('sent');
    expect((await run(['outbox', 'flush', '--json'], new Date(NOW.getTime() + 86_400_000))).json().results).toEqual([]);
  });

  it('a cc refused for good is recorded against it and shown in the outcome and in outbox (exit 4)', async () => {
    await seedReminders(1);
    f.relay.refuse.add('boss0@harbor.example.org');
    const r = await run(['expiring', '--notify', '--yes', '--json']);
    expect(r.code).toBe(4);
    const [res] = r.json().results;
    expect(res.outcome).toBe('failed');
    expect(res.message).toMatch(/boss0@harbor\.example\.org \(550 5\.1\.1/);
    expect(res.message).toMatch(/delivered to u0@harbor\.example\.org, ed@harbor\.example\.org/);
    expect(f.relay.received.map((m) => m.to)).toEqual([['u0@harbor.example.org', 'ed@harbor.example.org']]);

    const listed = (await run(['outbox', '--status', 'failed', '--json'])).json();
    expect(listed).toHaveLength(1);
    expect(listed[0].recipients.map((x: { status: string }) => x.status)).toEqual(['sent', 'failed', 'sent']);
    expect(listed[0].recipients[1].response).toMatch(/^550 5\.1\.1/);
    expect(listed[0].lastError).toMatch(/boss0@harbor\.example\.org/);
    const table = await run(['outbox']);
    expect(table.stdout).toMatch(/ u0@harbor\.example\.org \+2 +failed +1 +1\/3 refused: boss0@harbor\.example\.org$/m);
    // Nothing is retried: the recipients who have it do not get it again.
    expect((await run(['outbox', 'flush', '--json'], new Date(NOW.getTime() + 86_400_000))).json().results).toEqual([]);
  });

  const N = Number(process.env.HMIS_MEASURE_REMINDERS ?? 100);
  it(`a relay deferring ~5% of RCPTs: 0 of ${N * 3} reminder deliveries lost or doubled after enough flushes`, async () => {
    await seedReminders(N);
    f.relay.onRcpt = seededRcptFailures('issue-8', 0.05);
    const started = Date.now();
    const notify = await run(['expiring', '--notify', '--yes', '--json']);
    expect(notify.code, notify.stderr).toBe(0);
    let runs = 0;
    for (let t = NOW.getTime(); runs < 12; runs++) {
      if (!(await f.db.knex('mail_outbox').where('status', 'pending').first('id'))) break;
      t += 4 * 3_600_000;
      const flush = await run(['outbox', 'flush', '--json'], new Date(t));
      expect(flush.code, flush.stderr).toBe(0);
    }
    const rows = (await f.db.knex('mail_outbox').where('kind', 'reminder')) as OutboxRow[];
    expect(rows).toHaveLength(N);
    const seen = copies(f.relay.received);
    let deliveries = 0;
    let lost = 0;
    let doubled = 0;
    for (const row of rows) {
      for (const address of [row.to_address, ...cc(row)]) {
        deliveries++;
        const n = seen(row.message_id!, address);
        if (n === 0) lost++;
        if (n > 1) doubled++;
      }
    }
    if (process.env.HMIS_MEASURE_REMINDERS) {
      console.log(`${N} reminders, ${deliveries} deliveries; the relay deferred ${f.relay.rcpt.refused} of ${f.relay.rcpt.seen} RCPTs; ` +
        `${runs} outbox flush run(s) after expiring --notify; lost ${lost}, doubled ${doubled}; ${((Date.now() - started) / 1000).toFixed(1)} s`);
    }
    expect(f.relay.rcpt.refused).toBeGreaterThan(0);
    expect({ deliveries, lost, doubled }).toEqual({ deliveries: N * 3, lost: 0, doubled: 0 });
    expect(rows.every((r) => r.status === 'sent')).toBe(true);
  }, 600_000);
});

});
