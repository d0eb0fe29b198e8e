/**
 * Concurrent `reset send` for one person while the relay defers (451): only the newest message may stay
 * pending, and `outbox flush` never delivers a reset message that a newer one superseded (the first link
 * would replace the one the person should use). Real relay (smtp-server), both databases.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { openTestDb, type TestDb } from '../helpers/db.js';
import { FROM, seedUsers, SITE } from '../helpers/links.js';
import { startRelay, type TestRelay } from '../helpers/smtp.js';

let db: TestDb;
let relay: TestRelay;
const env = () => ({ ...db.env, HMIS_SITE_URL: SITE, HMIS_SMTP_URL: relay.url, HMIS_MAIL_FROM: FROM });
const run = (args: string[]) => cli(args, { database: db, env: env() });
const addr = (u: string) => `${u}@agency.test.example.org`;

beforeAll(async () => {
  db = await openTestDb();
  relay = await startRelay();
  await seedUsers(db.knex, [{ username: 'alice' }, { username: 'bob' }]);
});
afterAll(async () => {
  await relay?.close();
  await db?.close();
});

describe('reset send while the relay defers the person', () => {
  it('8 sends at once leave exactly one pending reset message, the newest; flush delivers only it', async () => {
    relay.defer.add(addr('alice'));
    const runs = await Promise.all(Array.from({ length: 8 }, () => run(['reset', 'send', 'alice', '--json'])));
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    const outcomes = runs.map((r) => r.json().results[0].outcome as string);
    // Each run says what was true when it answered: one that finished before a later send started says
    // `queued`, and that later send then cancels its row. So at least the newest says queued, every other
    // says queued or superseded, and what holds after all of them is the outbox below: one pending, the newest.
    // (Expecting exactly one `queued` failed on a loaded server when a send finished before another began.)
    expect(outcomes.every((o) => o === 'queued' || o === 'superseded'), outcomes.join(',')).toBe(true);
    expect(outcomes.filter((o) => o === 'queued').length, outcomes.join(',')).toBeGreaterThanOrEqual(1);
    const rows = await db.knex('mail_outbox').where('kind', 'reset').orderBy('id').select('id', 'status');
    const pending = rows.filter((r) => r.status === 'pending');
    expect(pending.map((r) => Number(r.id))).toEqual([Number(rows.at(-1)!.id)]);

    relay.defer.clear();
    const before = relay.received.length;
    const f = await cli(['outbox', 'flush', '--json'], { database: db, env: env(), clock: () => new Date(Date.now() + 3_600_000) });
    expect(f.code, f.stderr).toBe(0);
    expect(relay.received.length - before).toBe(1);
  });

  it('flush never delivers a reset message a newer one superseded, even when both are pending', async () => {
    relay.defer.add(addr('bob'));
    expect((await run(['reset', 'send', 'bob'])).code).toBe(0);
    expect((await run(['reset', 'send', 'bob'])).code).toBe(0);
    const rows = await db.knex('mail_outbox').where('kind', 'reset').whereIn('to_address', [addr('bob')]).orderBy('id').select('id');
    const [older, newer] = rows.map((r) => Number(r.id));
    // The state a lost race leaves behind: the older message back to pending next to the newer one.
    await db.knex('mail_outbox').where('id', older!).update({ status: 'pending', last_error: 'deferred', next_attempt_at: new Date(0) });
    relay.defer.clear();
    const before = relay.received.length;
    const f = await cli(['outbox', 'flush', '--json'], { database: db, env: env(), clock: () => new Date(Date.now() + 3_600_000) });
    expect(f.code, f.stderr).toBe(0);
    expect(relay.received.length - before).toBe(1);
    const byId = Object.fromEntries((f.json().results as Array<{ id?: number; outcome: string }>).map((r, i) => [i, r.outcome]));
    expect(Object.values(byId).sort()).toEqual(['sent', 'superseded']);
    const old = await db.knex('mail_outbox').where('id', older!).first();
    expect(old.status).not.toBe('sent');
    expect(old.status).not.toBe('pending');
    const now = await db.knex('mail_outbox').where('id', newer!).first();
    expect(now.status).toBe('sent');
    const live = await db.knex('password_reset_tokens').whereIn('sent_to', [addr('bob')]).whereNull('revoked_at').whereNull('used_at');
    expect(live).toHaveLength(1);
    expect(Number(live[0].outbox_id)).toBe(newer);
  });

  it('superseded mail is `cancelled` in outbox, not among the failed; a pending row shows no sentAt', async () => {
    const failed = await run(['outbox', '--status', 'failed', '--json']);
    expect(failed.code, failed.stderr).toBe(0);
    expect(failed.json()).toEqual([]);
    const cancelled = await run(['outbox', '--status', 'cancelled', '--json']);
    const rows = cancelled.json() as Array<{ status: string; lastError: string }>;
    expect(rows.length).toBeGreaterThanOrEqual(8);
    for (const r of rows) expect(r).toMatchObject({ status: 'cancelled', lastError: expect.stringMatching(/^cancelled: /) });
    const all = (await run(['outbox', '--json'])).json() as Array<{ status: string; sentAt: string | null }>;
    for (const r of all.filter((x) => x.status !== 'sent')) expect(r.sentAt).toBeNull();
  });
});
