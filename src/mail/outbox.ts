/**
 * The durable mail queue. A message is a mail_outbox row before any attempt; each recipient is marked
 * sent only after the relay accepted it; 4xx replies, dropped connections and outages go back to pending
 * with backoff (`outbox flush` retries only the recipients that lack the message); 5xx replies fail a
 * recipient for good with the relay's reply stored. nodemailer keeps nothing (#1425): this table is the
 * only record that survives a crash. One attempt is src/mail/attempt.ts.
 */
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { AppContext } from '../context.js';
import { CancelledError, type UsageError } from '../errors.js';
import {
  claimDue,
  countDue,
  dueKinds,
  findOutbox,
  findOutboxRows,
  initialRecipients,
  insertOutbox,
  listDue,
  pageOutbox,
  recoverStale,
  settleClaim,
  wasCancelled,
  type NameLookup,
  type OutboxFilter,
  type OutboxListRow,
} from '../db/outbox.js';
import { BatchSettler, deliverOne, persist, type DeliveryResult } from './attempt.js';
import { senderDomain } from './compose.js';
import { checkKindsConfig, LINK_KINDS } from './minters.js';
import { openTransport, POOL_OPTIONS } from './transport.js';
import type { OutboxRow, OutgoingMail } from './types.js';

export type { OutboxListRow } from '../db/outbox.js';
export { BACKOFF_MS, backoffMs, MAX_ATTEMPTS, type DeliveryResult } from './attempt.js';
export { minterFor, setLinkMinterForTest } from './minters.js';

// Batches start as small as the pool and grow while the relay takes mail: an unreachable relay
// (each connection waiting out its timeout) then costs one small batch, not the whole queue.
const FIRST_BATCH = POOL_OPTIONS.maxConnections;
const MAX_BATCH = 50;
/** The longest one message can hold a pooled connection: connect, greeting, then a silent socket. */
const WORST_SEND_MS = POOL_OPTIONS.connectionTimeout + POOL_OPTIONS.greetingTimeout + POOL_OPTIONS.socketTimeout;
/**
 * A row claimed longer ago than this belongs to a run that crashed. It must exceed the worst case of a
 * live batch (the last row of the largest batch waits for the pool to work through all the others, each
 * at its timeouts: 17 × 80 s ≈ 23 min), with a margin. The whole batch is claimed when it starts, so no
 * other run can take a row over before this run has attempted and settled it.
 */
export const STALE_SENDING_MS = 2 * Math.ceil(MAX_BATCH / POOL_OPTIONS.maxConnections) * WORST_SEND_MS;

/** Account names for outbox rows, from the account store (the host's table may not be joinable from the outbox). */
async function nameLookup(ctx: AppContext): Promise<NameLookup> {
  const store = await ctx.store();
  return (ids) => store.usernames(ids);
}

/** Record one message as pending (inside the caller's transaction, next to its audit row); returns its id. */
export async function enqueueMail(db: Knex | Knex.Transaction, mail: OutgoingMail): Promise<number> {
  return (await enqueueMany(db, [mail]))[0]!;
}

/** Record a page of messages in one statement (a bulk run's notices); returns their ids in order. */
export async function enqueueMany(db: Knex | Knex.Transaction, mails: OutgoingMail[]): Promise<number[]> {
  if (!mails.length) return [];
  return insertOutbox(
    db,
    mails.map((mail) => {
      // A link-bearing message goes to one address: a retry for a deferred cc would mint a new link that
      // supersedes the one the first recipient already has.
      if (mail.cc?.length && LINK_KINDS.includes(mail.kind)) throw new Error(`${mail.kind} mail has exactly one recipient`);
      // The local part is fixed now and the sender's domain is added at the first claim, where the
      // configuration is at hand; every attempt then carries the same Message-ID.
      return {
        kind: mail.kind,
        user_id: mail.userId ?? null,
        to_address: mail.to,
        cc: JSON.stringify(mail.cc ?? []),
        recipients: JSON.stringify(initialRecipients(mail.to, mail.cc ?? [])),
        subject: mail.subject,
        text_body: mail.text,
        html_body: mail.html,
        params: JSON.stringify(mail.params ?? {}),
        message_id: randomUUID(),
        status: mail.failedBecause ? 'failed' : 'pending',
        last_error: mail.failedBecause?.slice(0, 1000) ?? null,
        ticket: mail.ticket ?? null,
      };
    }),
  );
}

/**
 * Deliver due messages: exactly the rows `ids` (if due), or every due row (`outbox flush`), at most
 * `limit`. Returns one result per attempted message, and with `ids` also one for each of them that
 * another run settled first (`superseded` when a newer message cancelled it). Before claiming anything
 * the run's own configuration is checked for every kind it would deliver (a UsageError, exit 2, leaves
 * every row pending); each row then settles on its own.
 */
export async function deliverOutbox(ctx: AppContext, options: { ids?: number[]; limit?: number } = {}): Promise<DeliveryResult[]> {
  const { knex } = await ctx.db();
  const names = await nameLookup(ctx);
  const now = ctx.clock();
  if (options.ids && options.ids.length === 0) return [];
  if (!options.ids) await recoverStale(knex, now, STALE_SENDING_MS);
  const limit = options.limit ?? Infinity;
  const total = Math.min(limit, await countDue(knex, now, options.ids));
  const results: DeliveryResult[] = [];
  if (total > 0) {
    await checkKindsConfig(ctx.config, await dueKinds(knex, now, options.ids));
    const transport = await openTransport(ctx.config);
    const domain = senderDomain(ctx.config);
    const bar = total > 1 ? ctx.out.progress(total, 'delivering mail') : undefined;
    try {
      results.push(...(await deliverWindow(ctx, knex, transport, { limit, total, domain, ids: options.ids, names, tick: () => bar?.tick() })));
    } finally {
      bar?.done();
      await transport.close();
    }
  }
  if (options.ids) results.push(...(await notAttempted(knex, options.ids, results)));
  return results;
}

interface WindowOptions {
  limit: number;
  total: number;
  domain: string;
  ids?: number[];
  names: NameLookup;
  tick: () => void;
}

/**
 * Claim and attempt batches with at most MAX_BATCH rows claimed and unsettled at any time, claiming the
 * next batch while the pool still works on the last (the relay never waits for a claim). The first batch
 * (as small as the pool) is a probe: an unreachable relay costs only it. A row waits behind at most
 * MAX_BATCH - 1 others, which is what STALE_SENDING_MS allows for. Results in claim order.
 */
async function deliverWindow(ctx: AppContext, knex: Knex, transport: Awaited<ReturnType<typeof openTransport>>, o: WindowOptions): Promise<DeliveryResult[]> {
  // A cron job's SIGTERM (or Ctrl-C) while mail goes out: nothing more is claimed, the messages already claimed
  // are tried and settled (else they would sit in 'sending' until STALE_SENDING_MS), then the run ends as
  // stopped (exit 143, or 130). A second signal ends it at once (the listeners are gone: Node's own handling).
  const halt: Halt = {};
  const onTerm = () => stopOn('SIGTERM');
  const onInt = () => stopOn('SIGINT');
  const stopOn = (signal: Halt['signal']) => {
    halt.signal = signal;
    process.off('SIGTERM', onTerm).off('SIGINT', onInt);
  };
  process.on('SIGTERM', onTerm).on('SIGINT', onInt);
  try {
    return await claimAndAttempt(ctx, knex, transport, o, halt);
  } finally {
    process.off('SIGTERM', onTerm).off('SIGINT', onInt);
  }
}

/** Set when the run is asked to stop. */
interface Halt {
  signal?: 'SIGTERM' | 'SIGINT';
}

async function claimAndAttempt(ctx: AppContext, knex: Knex, transport: Awaited<ReturnType<typeof openTransport>>, o: WindowOptions, halt: Halt): Promise<DeliveryResult[]> {
  const batches: DeliveryResult[][] = [];
  const running = new Set<Promise<void>>();
  let outstanding = 0;
  let attempted = 0;
  let batch = FIRST_BATCH;
  let stop: { fatal?: UsageError; unreachable?: boolean } | undefined;
  const launch = (rows: OutboxListRow[]) => {
    const slot = batches.push([]) - 1;
    outstanding += rows.length;
    // The pool spreads a batch over its few connections; each row settles on its own (never throws),
    // its outcome written together with the others' (one UPDATE for the rows that finished together).
    const settler = new BatchSettler(knex, rows.length);
    const done = Promise.all(
      rows.map(async (row) => {
        const r = await deliverOne(ctx, knex, transport, row, settler).catch((err: unknown) => unexpected(ctx, knex, row, err));
        settler.finished(row.id);
        o.tick();
        return r;
      }),
    ).then((settled) => {
      batches[slot] = settled;
      outstanding -= rows.length;
      attempted += rows.length;
      const fatal = settled.find((r) => r.fatal)?.fatal;
      if (fatal) stop = { fatal };
      else if (settled.every((r) => r.outcome === 'queued' && r.unreachable)) stop ??= { unreachable: true };
    });
    const tracked = done.finally(() => running.delete(tracked));
    running.add(tracked);
    return tracked;
  };
  for (let first = true; !stop && !halt.signal; first = false) {
    const wanted = o.limit - attempted - outstanding;
    if (wanted <= 0) break;
    const room = Math.min(batch, MAX_BATCH - outstanding, wanted);
    // Claim when half the window is free (not a row at a time), or at once while the window is empty.
    if (outstanding > 0 && room < Math.min(batch, MAX_BATCH / 2, wanted)) {
      await Promise.race(running);
      continue;
    }
    const rows = await claimDue(knex, ctx.clock(), room, o.domain, o.ids, o.names);
    if (!rows.length) break;
    const p = launch(rows);
    if (first) await p; // the probe
    batch = Math.min(batch * 2, MAX_BATCH);
  }
  await Promise.all(running);
  const results = batches.flat();
  if (halt.signal) {
    const left = Math.max(0, o.total - results.length);
    // A cancellation, as Ctrl-C at a prompt is: the helpdesk wizard stops (and records where) instead of going on to the next fix.
    throw new CancelledError(
      `stopped by ${halt.signal} after trying the ${results.length} message(s) it had claimed; ${left} more stay queued for the next \`hmis-admin outbox flush\``,
      halt.signal === 'SIGTERM' ? 143 : 130,
    );
  }
  if (stop?.fatal) throw stop.fatal;
  if (stop?.unreachable) {
    const left = o.total - results.length;
    if (left > 0) ctx.out.warn(`the relay at ${transport.target} is unreachable; ${left} more message(s) stay queued for the next \`hmis-admin outbox flush\``);
  }
  return results;
}

/** A claimed row whose attempt threw (a bug, not a send failure): put back to pending, uncounted. */
async function unexpected(ctx: AppContext, knex: Knex, row: OutboxListRow, err: unknown): Promise<DeliveryResult> {
  const detail = `the attempt stopped: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}`;
  await persist((afterError) => settleClaim(knex, row.id, row.claim_id!, { status: 'pending', last_error: detail, uncount: true }, afterError)).catch(() => undefined);
  return { id: row.id, kind: row.kind, userId: row.user_id, username: row.username, to: row.to_address, outcome: 'queued', detail };
}

/** Rows asked for by id that this run did not attempt: what became of them. */
async function notAttempted(knex: Knex, ids: number[], done: DeliveryResult[]): Promise<DeliveryResult[]> {
  const out: DeliveryResult[] = [];
  const attempted = new Set(done.map((r) => r.id));
  const rows = new Map((await findOutboxRows(knex, ids.filter((i) => !attempted.has(i)))).map((r) => [r.id, r]));
  for (const id of ids.filter((i) => !attempted.has(i))) {
    const row = rows.get(id);
    if (!row) continue;
    const base = { id, kind: row.kind, userId: row.user_id, to: row.to_address };
    if (wasCancelled(row)) out.push({ ...base, outcome: 'superseded', detail: `${row.last_error}: nothing of it was sent and nothing will be retried` });
    else if (row.status === 'sent') out.push({ ...base, outcome: 'sent', detail: 'another delivery run sent it' });
    else if (row.status === 'failed') out.push({ ...base, outcome: 'failed', detail: row.last_error ?? 'failed' });
    else out.push({ ...base, outcome: 'queued', detail: row.status === 'sending' ? 'another delivery run is sending it now' : 'not due yet' });
  }
  return out;
}

/** `outbox [--status …]`: messages newest first, streamed. */
export async function listOutbox(ctx: AppContext, filter: OutboxFilter, limit: number): Promise<AsyncIterable<OutboxListRow>> {
  const { knex } = await ctx.db();
  return pageOutbox(knex, filter, limit, 500, await nameLookup(ctx));
}

/** What `outbox flush` would attempt now, without claiming anything. */
export async function previewDue(ctx: AppContext, limit: number): Promise<OutboxListRow[]> {
  const { knex } = await ctx.db();
  return listDue(knex, ctx.clock(), Math.min(limit, 100_000), await nameLookup(ctx));
}

/** One outbox row (for `mail test`, to report the Message-ID it went out with). */
export async function outboxRow(ctx: AppContext, id: number): Promise<OutboxRow | undefined> {
  const { knex } = await ctx.db();
  return findOutbox(knex, id);
}
