/**
 * Outbox claims have an owner: a run whose claim was recovered as stale (and taken over by another run)
 * can no longer mark the row, and says so instead of pretending it decided the row's fate.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { claimDue, markFailed, markRetry, markSent, recoverStale, touchClaim } from '../../src/db/outbox.js';
import { renderMail } from '../../src/mail/compose.js';
import { enqueueMail, setLinkMinterForTest, STALE_SENDING_MS } from '../../src/mail/outbox.js';
import type { OutboxRow } from '../../src/mail/types.js';
import { cli } from '../helpers/cli.js';
import { openTestDb, type TestDb } from '../helpers/db.js';
import { startRelay, type TestRelay } from '../helpers/smtp.js';

const FROM = 'hmis-noreply@hmis.example.org';
const T0 = new Date('2026-11-27T09:00:00Z');
const later = (ms: number) => new Date(T0.getTime() + ms);
let db: TestDb;
let relay: TestRelay;

beforeAll(async () => {
  db = await openTestDb();
});
afterAll(async () => db?.close());
beforeEach(async () => {
  await db.reset();
  relay = await startRelay();
});
afterEach(async () => {
  setLinkMinterForTest('reset', undefined);
  await relay.close();
});

async function enqueue(kind: 'notice' | 'reset' = 'notice'): Promise<number> {
  const body = renderMail({ greeting: 'Hello,', paragraphs: ['x'], ...(kind === 'reset' ? { link: { label: 'Open' } } : {}), senderHint: FROM });
  return enqueueMail(db.knex, { kind, to: 'someone@agency.org', subject: 'S', ...body });
}

describe('claim ownership', () => {
  it('run A claims, B recovers and reclaims: A can no longer mark the row, B can', async () => {
    const id = await enqueue();
    const [a] = await claimDue(db.knex, T0, 10, 'hmis.example.org');
    expect(a!.claim_id).toMatch(/^[0-9a-f-]{36}$/);
    // A is slow; B starts after the stale limit, puts the row back and claims it under a new claim.
    const t1 = later(STALE_SENDING_MS + 1);
    expect(await recoverStale(db.knex, t1, STALE_SENDING_MS)).toBe(1);
    const [b] = await claimDue(db.knex, t1, 10, 'hmis.example.org');
    expect(b!.id).toBe(id);
    expect(b!.claim_id).not.toBe(a!.claim_id);
    expect(b!.attempts).toBe(2);

    expect(await touchClaim(db.knex, id, a!.claim_id!, t1)).toBe(false);
    expect(await markSent(db.knex, id, a!.claim_id!, t1, '250 A', null)).toBe(false);
    expect(await markRetry(db.knex, id, a!.claim_id!, t1, 'A deferred')).toBe(false);
    expect(await markFailed(db.knex, id, a!.claim_id!, 'A failed', null)).toBe(false);
    let row = (await db.knex('mail_outbox').where({ id }).first()) as OutboxRow;
    expect([row.status, row.claim_id]).toEqual(['sending', b!.claim_id]);

    expect(await markSent(db.knex, id, b!.claim_id!, t1, '250 B', null)).toBe(true);
    row = (await db.knex('mail_outbox').where({ id }).first()) as OutboxRow;
    // The claim_id stays on the settled row: a retried write can tell that its earlier try landed.
    expect([row.status, row.relay_response, row.claim_id]).toEqual(['sent', '250 B', b!.claim_id]);
    expect(await markSent(db.knex, id, b!.claim_id!, t1, '250 B again', null)).toBe(false);
  });

  it('a claim is renewed before each attempt, so a live run is not taken for a crashed one', async () => {
    const id = await enqueue();
    const [a] = await claimDue(db.knex, T0, 10, 'hmis.example.org');
    const t1 = later(STALE_SENDING_MS - 1000);
    expect(await touchClaim(db.knex, id, a!.claim_id!, t1)).toBe(true);
    expect(await recoverStale(db.knex, later(STALE_SENDING_MS + 1), STALE_SENDING_MS)).toBe(0);
  });

  it('a delivery whose row was taken over mid-attempt reports it and leaves the row to the new owner', async () => {
    const id = await enqueue('reset');
    let takeover: OutboxRow | undefined;
    // The minter runs inside A's attempt: simulate B recovering and reclaiming the row right then.
    setLinkMinterForTest('reset', async (k) => {
      const t1 = later(STALE_SENDING_MS * 2);
      await recoverStale(k, t1, 1);
      [takeover] = await claimDue(k, t1, 10, 'hmis.example.org');
      return { url: 'https://hmis.example.org/password/reset?token=T', revoke: async () => {} };
    });
    const r = await cli(['outbox', 'flush', '--json'], { database: db, env: { HMIS_SITE_URL: 'https://hmis.test.example.org', HMIS_SMTP_URL: relay.url, HMIS_MAIL_FROM: FROM }, clock: () => T0 });
    expect(r.code, r.stderr).toBe(0);
    const [res] = r.json().results;
    expect(res.outcome).toBe('sent');
    expect(res.message).toMatch(/another delivery run took this message over.*may arrive twice/);
    expect(r.stderr).toMatch(/another delivery run took this message over/);
    expect(takeover?.id).toBe(id);
    const row = (await db.knex('mail_outbox').where({ id }).first()) as OutboxRow;
    expect([row.status, row.claim_id]).toEqual(['sending', takeover!.claim_id]);
  });

  it('the stale limit exceeds the worst case of a live batch', () => {
    // 50 rows over 3 connections, each at most connect 10 s + greeting 10 s + socket 60 s: about 23 minutes.
    expect(STALE_SENDING_MS).toBeGreaterThan(Math.ceil(50 / 3) * 80_000);
  });
});
