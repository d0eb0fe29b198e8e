/**
 * The durable mail queue. A message is a mail_outbox row before any attempt; it is marked sent only
 * after the relay accepted it; 4xx replies, dropped connections and outages go back to pending with
 * backoff (`outbox flush` retries them); 5xx replies fail for good with the relay's reply stored.
 * nodemailer keeps nothing (#1425): this table is the only record that survives a crash.
 */
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { AppContext } from '../context.js';
import {
  claimDue,
  countDue,
  findOutbox,
  insertOutbox,
  listDue,
  markFailed,
  markRetry,
  markSent,
  pageOutbox,
  recoverStale,
  touchClaim,
  type OutboxFilter,
  type OutboxListRow,
} from '../db/outbox.js';
import { quote } from '../parse.js';
import { parseEmailAddress } from '../services/email-address.js';
import { insertLink, senderDomain } from './compose.js';
import { classifySendError, openTransport, POOL_OPTIONS, type MailTransport } from './transport.js';
import type { LinkMinter, MailKind, MintedLink, OutboxRow, OutgoingMail } from './types.js';

export type { OutboxListRow } from '../db/outbox.js';

export interface DeliveryResult {
  id: number;
  kind: MailKind;
  userId: number | null;
  /** The account's username, when the message belongs to one (for `{"results": [{"user": …}]}`). */
  username?: string | null;
  to: string;
  outcome: 'sent' | 'queued' | 'failed';
  detail: string;
  emlPath?: string;
  /** The relay could not be reached at all (for exit 1 when that is true of every message). */
  unreachable?: boolean;
}

/** Retry delays after the 1st, 2nd, … failed attempt; the last one repeats. */
export const BACKOFF_MS = [60_000, 5 * 60_000, 15 * 60_000, 60 * 60_000, 2 * 3_600_000, 4 * 3_600_000];
/** After this many attempts a temporarily failing message is given up as failed. */
export const MAX_ATTEMPTS = 10;
// Batches start as small as the pool and grow while the relay takes mail: an unreachable relay
// (each connection waiting out its timeout) then costs one small batch, not the whole queue.
const FIRST_BATCH = POOL_OPTIONS.maxConnections;
const MAX_BATCH = 50;
/** The longest one message can hold a pooled connection: connect, greeting, then a silent socket. */
const WORST_SEND_MS = POOL_OPTIONS.connectionTimeout + POOL_OPTIONS.greetingTimeout + POOL_OPTIONS.socketTimeout;
/**
 * A row claimed longer ago than this belongs to a run that crashed. It must exceed the worst case of a
 * live batch (the last row of the largest batch waits for the pool to work through all the others, each
 * at its timeouts: 17 × 80 s ≈ 23 min), with a margin; each attempt also renews its claim before it starts.
 */
export const STALE_SENDING_MS = 2 * Math.ceil(MAX_BATCH / POOL_OPTIONS.maxConnections) * WORST_SEND_MS;

/** When attempt number `attempts` (1-based) failed temporarily, the next try is due this much later. */
export function backoffMs(attempts: number): number {
  return BACKOFF_MS[Math.min(Math.max(attempts, 1), BACKOFF_MS.length) - 1]!;
}

/** Record one message as pending (inside the caller's transaction, next to its audit row); returns its id. */
export async function enqueueMail(db: Knex | Knex.Transaction, mail: OutgoingMail): Promise<number> {
  // The local part is fixed now and the sender's domain is added at the first claim, where the
  // configuration is at hand; every attempt then carries the same Message-ID.
  return insertOutbox(db, {
    kind: mail.kind,
    user_id: mail.userId ?? null,
    to_address: mail.to,
    cc: JSON.stringify(mail.cc ?? []),
    subject: mail.subject,
    text_body: mail.text,
    html_body: mail.html,
    params: JSON.stringify(mail.params ?? {}),
    message_id: randomUUID(),
    status: 'pending',
    ticket: mail.ticket ?? null,
  });
}

// Link-bearing kinds mint their link at delivery, loaded only when such mail goes out.
const MINTERS: Partial<Record<MailKind, () => Promise<LinkMinter>>> = {
  reset: async () => (await import('../services/reset.js')).mintResetLink,
  verify: async () => (await import('../services/email.js')).mintVerifyLink,
};
const testMinters = new Map<MailKind, LinkMinter>();

/** Tests register a minter for a kind (undefined removes it). */
export function setLinkMinterForTest(kind: MailKind, minter: LinkMinter | undefined): void {
  if (minter) testMinters.set(kind, minter);
  else testMinters.delete(kind);
}

/** The LinkMinter of a link-bearing kind (a test override first); undefined for kinds without a link. */
export async function minterFor(kind: MailKind): Promise<LinkMinter | undefined> {
  return testMinters.get(kind) ?? MINTERS[kind]?.();
}

/**
 * Deliver due messages: exactly the rows `ids` (if due), or every due row (`outbox flush`), at most
 * `limit`. Returns one result per attempted message.
 */
export async function deliverOutbox(ctx: AppContext, options: { ids?: number[]; limit?: number } = {}): Promise<DeliveryResult[]> {
  const { knex } = await ctx.db();
  const now = ctx.clock();
  if (options.ids && options.ids.length === 0) return [];
  if (!options.ids) await recoverStale(knex, now, STALE_SENDING_MS);
  const limit = options.limit ?? Infinity;
  const total = Math.min(limit, await countDue(knex, now, options.ids));
  if (total === 0) return [];

  const transport = await openTransport(ctx.config);
  const domain = senderDomain(ctx.config);
  const bar = total > 1 ? ctx.out.progress(total, 'delivering mail') : undefined;
  const results: DeliveryResult[] = [];
  try {
    let batch = FIRST_BATCH;
    while (results.length < limit) {
      const rows = await claimDue(knex, ctx.clock(), Math.min(batch, limit - results.length), domain, options.ids);
      if (!rows.length) break;
      // The pool spreads a batch over its few connections; each row settles on its own.
      const settled = await Promise.all(
        rows.map(async (row) => {
          const r = await deliverOne(ctx, knex, transport, row);
          bar?.tick();
          return r;
        }),
      );
      results.push(...settled);
      if (settled.every((r) => r.outcome === 'queued' && r.unreachable)) {
        const left = total - results.length;
        if (left > 0) ctx.out.warn(`the relay at ${transport.target} is unreachable; ${left} more message(s) stay queued for the next \`hmis-admin outbox flush\``);
        break;
      }
      batch = Math.min(batch * 2, MAX_BATCH);
    }
  } finally {
    bar?.done();
    await transport.close();
  }
  return results;
}

/** Why a stored recipient is not one plain address (the row was written by an older version, or edited), or null. */
function badRecipient(row: OutboxRow): string | null {
  for (const [what, address] of [['to', row.to_address] as const, ...row.cc.map((c) => ['cc', c] as const)]) {
    const p = parseEmailAddress(address);
    if (!p.ok) return `the ${what} address ${quote(address)} ${p.reason}; nothing was sent`;
  }
  return null;
}

const TAKEN_OVER = 'another delivery run took this message over (its claim here had been recovered as stale)';

/** One attempt for one claimed row; never throws for a send failure. */
async function deliverOne(ctx: AppContext, knex: Knex, transport: MailTransport, row: OutboxListRow): Promise<DeliveryResult> {
  const base = { id: row.id, kind: row.kind, userId: row.user_id, username: row.username, to: row.to_address };
  const claim = row.claim_id!;
  // A late mark that matches nothing means another run owns the row now: say so, never act twice.
  const lost = (detail: string): DeliveryResult => {
    ctx.out.warn(`message #${row.id}: ${TAKEN_OVER}; ${detail}`);
    return { ...base, outcome: 'queued', detail: `${TAKEN_OVER}; ${detail}` };
  };
  // Renew the claim right before the attempt: a long batch is not mistaken for a crashed run, and a row
  // another run has meanwhile taken over is neither minted for nor sent from here.
  if (!(await touchClaim(knex, row.id, claim, ctx.clock()))) return lost('nothing was minted or sent by this run');
  const bad = badRecipient(row);
  if (bad) {
    await markFailed(knex, row.id, claim, bad, null);
    return { ...base, outcome: 'failed', detail: bad };
  }
  let minted: MintedLink | undefined;
  let parts = { text: row.text_body, html: row.html_body };
  try {
    const minter = await minterFor(row.kind);
    if (minter) {
      minted = await minter(knex, row, ctx.clock(), ctx.config);
      // The link exists only in memory for this send; the row keeps the {{link}} template.
      parts = insertLink(parts, minted.url);
    }
  } catch (err) {
    const detail = `could not prepare the message: ${(err as Error).message.split('\n')[0]}`;
    if (!(await markFailed(knex, row.id, claim, detail, null))) return lost('nothing was sent by this run');
    return { ...base, outcome: 'failed', detail };
  }

  try {
    const info = await transport.send({ to: row.to_address, cc: row.cc, subject: row.subject, ...parts, messageId: row.message_id!, date: ctx.clock() });
    if (info.accepted.length === 0) {
      const detail = `the relay refused every recipient: ${info.rejected.join(', ')} (${info.response})`;
      await revoke(ctx, knex, minted, 'relay refused the message');
      if (!(await markFailed(knex, row.id, claim, detail, info.response))) return lost(`this run's attempt failed too: ${detail}`);
      return { ...base, outcome: 'failed', detail };
    }
    const detail = info.emlPath ? `written to ${info.emlPath}` : `accepted by ${transport.target}: ${info.response}`;
    if (!(await markSent(knex, row.id, claim, ctx.clock(), info.response, info.emlPath ?? null))) {
      // The relay has it, but the row belongs to the other run now, which may deliver a second copy.
      ctx.out.warn(`message #${row.id}: ${TAKEN_OVER}; this run's copy was ${detail}, so it may arrive twice (same Message-ID)`);
      return { ...base, outcome: 'sent', detail: `${detail}; ${TAKEN_OVER}, so it may arrive twice`, ...(info.emlPath ? { emlPath: info.emlPath } : {}) };
    }
    await minted?.delivered?.(knex);
    return { ...base, outcome: 'sent', detail, ...(info.emlPath ? { emlPath: info.emlPath } : {}) };
  } catch (err) {
    const failure = classifySendError(err);
    // No link may stay valid that the user never received; a retry mints a fresh one.
    await revoke(ctx, knex, minted, failure.temporary ? 'delivery deferred' : 'relay refused the message');
    if (!failure.temporary) {
      if (!(await markFailed(knex, row.id, claim, failure.detail, failure.detail))) return lost(`this run's attempt was refused: ${failure.detail}`);
      return { ...base, outcome: 'failed', detail: `refused by the relay: ${failure.detail}` };
    }
    if (row.attempts >= MAX_ATTEMPTS) {
      const detail = `gave up after ${row.attempts} attempts; last error: ${failure.detail}`;
      if (!(await markFailed(knex, row.id, claim, detail, null))) return lost(`this run's attempt failed: ${failure.detail}`);
      return { ...base, outcome: 'failed', detail, unreachable: failure.unreachable };
    }
    const next = new Date(ctx.clock().getTime() + backoffMs(row.attempts));
    if (!(await markRetry(knex, row.id, claim, next, failure.detail))) return lost(`this run's attempt failed: ${failure.detail}`);
    return { ...base, outcome: 'queued', detail: `${failure.detail}; will retry after ${next.toISOString()} (outbox flush)`, unreachable: failure.unreachable };
  }
}

/** Revoke a link whose message did not go out; a failure to revoke is reported, not fatal (only a hash is stored). */
async function revoke(ctx: AppContext, knex: Knex, minted: MintedLink | undefined, reason: string): Promise<void> {
  try {
    await minted?.revoke(knex, reason);
  } catch (err) {
    ctx.out.warn(`could not revoke the undelivered link: ${(err as Error).message.split('\n')[0]}`);
  }
}

/** `outbox [--status …]`: messages newest first, streamed. */
export async function listOutbox(ctx: AppContext, filter: OutboxFilter, limit: number): Promise<AsyncIterable<OutboxListRow>> {
  const { knex } = await ctx.db();
  return pageOutbox(knex, filter, limit);
}

/** What `outbox flush` would attempt now, without claiming anything. */
export async function previewDue(ctx: AppContext, limit: number): Promise<OutboxListRow[]> {
  const { knex } = await ctx.db();
  return listDue(knex, ctx.clock(), Math.min(limit, 100_000));
}

/** One outbox row (for `mail test`, to report the Message-ID it went out with). */
export async function outboxRow(ctx: AppContext, id: number): Promise<OutboxRow | undefined> {
  const { knex } = await ctx.db();
  return findOutbox(knex, id);
}
