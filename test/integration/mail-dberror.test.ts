/**
 * The database failing around a delivery: once the relay accepted a message it is sent — recorded with
 * retries on a fresh connection, its link never revoked, never put back to pending — and one row's
 * trouble never abandons the other rows of the run. On the server the run's backends are really killed
 * (pg_terminate_backend from a separate admin connection) at the moment the relay accepts.
 */
import type { Knex } from 'knex';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { renderMail } from '../../src/mail/compose.js';
import { enqueueMail } from '../../src/mail/outbox.js';
import type { OutboxRow } from '../../src/mail/types.js';
import { onServer, serverUrl } from '../helpers/db.js';
import { FROM, Leaks, seedUsers, SITE } from '../helpers/links.js';
import { mailFixture } from '../helpers/mail-fixture.js';
import type { Verdict } from '../helpers/smtp.js';

const f = mailFixture();
const leaks = new Leaks();
const env = () => ({ ...f.db.env, HMIS_SITE_URL: SITE, HMIS_SMTP_URL: f.relay.url, HMIS_MAIL_FROM: FROM });
const run = (args: string[], clock?: () => Date) => leaks.run(f.db, args, { env: env(), clock });
const rows = async () => (await f.db.knex('mail_outbox').orderBy('id')) as OutboxRow[];

afterEach(async () => {
  await f.db.knex.raw('drop trigger if exists test_outbox_fault on mail_outbox');
});

/**
 * Make UPDATEs of mail_outbox that record `status = 'sent'` fail with a real database error: the first
 * `times` of them (a sequence counts, since a failing statement rolls back everything else), or always for
 * the row `id`.
 */
async function failMarkingSent(k: Knex, o: { times?: number; id?: number }): Promise<void> {
  await k.raw('drop sequence if exists test_outbox_fault_seq');
  await k.raw('create sequence test_outbox_fault_seq');
  await k.raw(`create or replace function test_outbox_fault() returns trigger language plpgsql as $$
    begin
      if new.status = 'sent' and old.status = 'sending'
         and (new.id = ${o.id ?? -1} or nextval('test_outbox_fault_seq') <= ${o.times ?? 0}) then
        raise exception 'simulated database failure while recording a delivery' using errcode = '08006';
      end if;
      return new;
    end $$`);
  await k.raw('create trigger test_outbox_fault before update on mail_outbox for each row execute function test_outbox_fault()');
}

async function enqueueNotices(n: number): Promise<number[]> {
  const body = renderMail({ greeting: 'Hello,', paragraphs: ['Your account changed.'], senderHint: FROM });
  const ids: number[] = [];
  for (let i = 0; i < n; i++) ids.push(await enqueueMail(f.db.knex, { kind: 'notice', to: `user${i}@agency.org`, subject: `Notice ${i}`, ...body }));
  return ids;
}

/** The reset link `alice` received works, was never revoked, and went out once. */
async function expectOneWorkingLink(userId: number): Promise<void> {
  expect(f.relay.received).toHaveLength(1);
  const mail = await leaks.fromMail(f.relay);
  const check = await run(['reset', 'check', mail.token, '--json']);
  expect(check.json(), 'the delivered link must stay valid').toMatchObject({ valid: true });
  expect(await f.db.knex('audit_log').where({ action: 'reset.revoked_undelivered', user_id: userId })).toHaveLength(0);
  const [row] = await rows();
  expect(row!.status).toBe('sent');
  // Nothing is left for a later flush to send a second time.
  const later = await run(['outbox', 'flush', '--json'], () => new Date(Date.now() + 86_400_000));
  expect(later.json().results).toEqual([]);
  expect(f.relay.received).toHaveLength(1);
}

describe('a database error after the relay accepted', () => {
  it('is not a failed send: the mark is retried, the link stays valid, no second copy', async () => {
    const { alice } = await seedUsers(f.db.knex, [{ username: 'alice' }]);
    await failMarkingSent(f.db.knex, { times: 2 });
    const r = await run(['reset', 'send', 'alice', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().results[0]).toMatchObject({ outcome: 'sent' });
    await expectOneWorkingLink(alice!);
  });

  it("one row that cannot be recorded does not abandon the others, and none is left in 'sending' but that one", async () => {
    const ids = await enqueueNotices(6);
    await failMarkingSent(f.db.knex, { id: ids[1] });
    const r = await run(['outbox', 'flush', '--json']);
    // The relay has every message; the database could not record one of them: an operational failure.
    expect(r.code, r.stderr).toBe(1);
    const results = r.json().results as Array<{ outcome: string; message: string }>;
    expect(results.map((x) => x.outcome)).toEqual(Array(6).fill('sent'));
    expect(results.find((x) => x.message.startsWith(`#${ids[1]} `))!.message).toMatch(/could not record that, so a later flush may send it again/);
    expect(r.stderr).toMatch(new RegExp(`message #${ids[1]}: could not record the outcome`));
    const after = await rows();
    expect(after.filter((x) => Number(x.id) !== ids[1]).map((x) => x.status)).toEqual(Array(5).fill('sent'));
    expect(after.find((x) => Number(x.id) === ids[1])!.status).toBe('sending');
    expect(f.relay.received).toHaveLength(6);
  });
});

describe.skipIf(!onServer)('backends killed at the moment the relay accepts (PostgreSQL server)', () => {
  let admin: Knex;
  let dbName: string;
  beforeAll(async () => {
    const { default: knexFactory } = await import('knex');
    admin = knexFactory({ client: 'pg', connection: serverUrl, pool: { min: 0, max: 1 } });
    dbName = new URL(f.db.env.HMIS_DATABASE_URL!).pathname.slice(1);
  });
  afterAll(async () => admin?.destroy());
  // (knex runs a query only when it is awaited or then'd)
  const reopen = () => admin.raw(`alter database "${dbName}" with allow_connections true`).then(() => undefined);
  afterEach(reopen);

  /** On the first accepted message: refuse new connections, kill every backend of the test database, allow again ~0.8 s later. */
  function killOnFirstAccept(): { kills: number[] } {
    const state = { kills: [] as number[] };
    f.relay.onMessage = async (seen): Promise<Verdict> => {
      if (seen !== 0) return 'accept';
      await admin.raw(`alter database "${dbName}" with allow_connections false`);
      const killed = await admin.raw('select pg_terminate_backend(pid) as ok from pg_stat_activity where datname = ? and pid <> pg_backend_pid()', [dbName]);
      state.kills.push(killed.rows.length);
      setTimeout(() => void reopen(), 800);
      return 'accept';
    };
    return state;
  }

  it('reset send: the link just delivered is recorded as sent, never revoked, never sent again', async () => {
    const { alice } = await seedUsers(f.db.knex, [{ username: 'alice' }]);
    const state = killOnFirstAccept();
    const r = await run(['reset', 'send', 'alice', '--json']);
    expect(state.kills[0]).toBeGreaterThan(0);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().results[0]).toMatchObject({ outcome: 'sent' });
    f.relay.onMessage = () => 'accept';
    await expectOneWorkingLink(alice!);
  });

  it('outbox flush: every message is recorded once, nothing stranded in sending', async () => {
    await enqueueNotices(8);
    const state = killOnFirstAccept();
    const r = await run(['outbox', 'flush', '--json']);
    expect(state.kills[0]).toBeGreaterThan(0);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().results.map((x: { outcome: string }) => x.outcome)).toEqual(Array(8).fill('sent'));
    const after = await rows();
    expect(after.map((x) => x.status)).toEqual(Array(8).fill('sent'));
    for (const row of after) expect(f.relay.acceptedCount(row.message_id!)).toBe(1);
  });
});
