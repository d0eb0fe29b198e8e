/**
 * One delivery attempt of one claimed outbox row. It never throws: each row settles on its own, so one
 * row's trouble (a refused recipient, a dead database connection) cannot abandon the others of its batch.
 * Whoever the relay accepted has the message: that is recorded (retried on a fresh connection when the
 * database fails), the link it carried is never revoked, and the next attempt goes only to the others.
 */
import type { Knex } from 'knex';
import type { AppContext } from '../context.js';
import { settleClaim, settleClaims, type ClaimSettlement, type OutboxListRow, type Settlement } from '../db/outbox.js';
import { UsageError } from '../errors.js';
import { when } from '../output/format.js';
import { quote } from '../parse.js';
import { parseEmailAddress } from '../services/email/email-address.js';
import { insertLink } from './compose.js';
import { minterFor } from './minters.js';
import { applyAttempt, giveUp, having, listOf, refusedSummary, reportOfError, reportOfResult, rowStatus, type Applied, type AttemptReport } from './recipients.js';
import type { MailTransport } from './transport.js';
import { MintRefused, MintSuperseded, type MailKind, type MintedLink, type OutboxRow, type RecipientState } from './types.js';

export interface DeliveryResult {
  id: number;
  kind: MailKind;
  userId: number | null;
  /** The account's username, when the message belongs to one (for `{"results": [{"user": …}]}`). */
  username?: string | null;
  to: string;
  /** `superseded`: a newer message of the same kind cancelled this one before it was attempted. */
  outcome: 'sent' | 'queued' | 'failed' | 'superseded';
  detail: string;
  emlPath?: string;
  /** The relay could not be reached at all (for exit 1 when that is true of every message). */
  unreachable?: boolean;
  /** Each recipient's state after the attempt. */
  recipients?: RecipientState[];
  /** This run's own configuration cannot deliver the message: the run stops (exit 2), the row stays pending. */
  fatal?: UsageError;
  /** The database could not record the outcome even after retries: the row stays 'sending' (exit 1). */
  unrecorded?: boolean;
}

/** Retry delays after the 1st, 2nd, … failed attempt; the last one repeats. */
export const BACKOFF_MS = [60_000, 5 * 60_000, 15 * 60_000, 60 * 60_000, 2 * 3_600_000, 4 * 3_600_000];
/** After this many attempts a temporarily failing recipient is given up as failed. */
export const MAX_ATTEMPTS = 10;

/** When attempt number `attempts` (1-based) failed temporarily, the next try is due this much later. */
export function backoffMs(attempts: number): number {
  return BACKOFF_MS[Math.min(Math.max(attempts, 1), BACKOFF_MS.length) - 1]!;
}

/** Waits between tries of a database write (about 4 s in all: a killed connection or a brief restart). */
export const PERSIST_WAITS_MS = [100, 300, 700, 1_200, 2_000];

/**
 * Run a database write, trying again after an error. Each try takes a connection from the pool afresh
 * (knex discards one that died), so a killed backend is ridden out. `afterError` tells the write an
 * earlier try failed: its statement may have committed all the same.
 */
export async function persist<T>(write: (afterError: boolean) => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await write(i > 0);
    } catch (err) {
      if (i >= PERSIST_WAITS_MS.length) throw err;
      await new Promise((resolve) => setTimeout(resolve, PERSIST_WAITS_MS[i]));
    }
  }
}

/** How long a settled row waits for the rest of its batch before its record is written anyway. */
const SETTLE_WAIT_MS = 25;

/**
 * The settlements of one batch, written together: one UPDATE and one commit for many rows rather than
 * one each. A row's attempt asks to settle and waits for the write; the queue is written once every row
 * still in flight has asked, or SETTLE_WAIT_MS after the first ask (one slow send does not hold back the
 * records of the others).
 */
export class BatchSettler {
  private queue: Array<{ item: ClaimSettlement; resolve: (written: boolean) => void; reject: (err: unknown) => void }> = [];
  private asked = new Set<number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly knex: Knex,
    private inFlight: number,
  ) {}

  settle(item: ClaimSettlement): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.asked.add(item.id);
      this.inFlight--;
      this.schedule();
    });
  }

  /** A row's attempt ended; if it never asked to settle (it threw), the batch no longer waits for it. */
  finished(id: number): void {
    if (this.asked.has(id)) return;
    this.asked.add(id);
    this.inFlight--;
    this.schedule();
  }

  private schedule(): void {
    if (!this.queue.length) return;
    if (this.inFlight <= 0) return this.flush();
    this.timer ??= setTimeout(() => this.flush(), SETTLE_WAIT_MS);
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.queue;
    this.queue = [];
    if (!batch.length) return;
    // One statement for all; when it fails (a dead connection, or one row the database refuses), each row
    // is written on its own with retries, so one row's trouble never leaves the others unrecorded. The
    // failed statement may have committed before its connection died: each row's write knows (afterError).
    settleClaims(this.knex, batch.map((b) => b.item)).then(
      (written) => batch.forEach((b) => b.resolve(written.has(b.item.id))),
      () => {
        for (const { item, resolve, reject } of batch) {
          persist(() => settleClaim(this.knex, item.id, item.claimId, item.settlement, true)).then(resolve, reject);
        }
      },
    );
  }
}

const TAKEN_OVER = 'another delivery run took this message over (its claim here had been recovered as stale)';
const firstLine = (err: unknown) => (err instanceof Error ? err.message : String(err)).split('\n')[0]!;

/** Why a stored recipient is not one plain address (the row was written by an older version, or edited), or null. */
function badRecipient(row: OutboxRow): string | null {
  for (const r of row.recipients) {
    const p = parseEmailAddress(r.address);
    if (!p.ok) return `the ${r.role} address ${quote(r.address)} ${p.reason}; nothing was sent`;
  }
  return null;
}

/** What every step of one row's attempt needs: where to write, and how to say the row was taken over. */
interface RowAttempt {
  ctx: AppContext;
  knex: Knex;
  row: OutboxListRow;
  base: Pick<DeliveryResult, 'id' | 'kind' | 'userId' | 'username' | 'to'>;
  /** Settle the row with retries; 'unrecorded' when the database stayed unreachable. */
  settle(s: Settlement): Promise<boolean | 'unrecorded'>;
  /** The result when a mark matched nothing: another run owns the row now. */
  lost(detail: string): DeliveryResult;
  /** Set when a settle gave up on the database. */
  unrecorded: boolean;
}

function rowAttempt(ctx: AppContext, knex: Knex, row: OutboxListRow, settler?: BatchSettler): RowAttempt {
  const claim = row.claim_id!;
  const write = settler
    ? (s: Settlement) => settler.settle({ id: row.id, claimId: claim, settlement: s })
    : (s: Settlement) => persist((afterError) => settleClaim(knex, row.id, claim, s, afterError));
  const base = { id: row.id, kind: row.kind, userId: row.user_id, username: row.username, to: row.to_address };
  const a: RowAttempt = {
    ctx,
    knex,
    row,
    base,
    unrecorded: false,
    settle: async (s) => {
      try {
        return await write(s);
      } catch (err) {
        a.unrecorded = true;
        ctx.out.warn(`message #${row.id}: could not record the outcome (${firstLine(err)}); the row stays 'sending' and the first \`hmis-admin outbox flush\` after 45 minutes tries it again`);
        return 'unrecorded';
      }
    },
    // A late mark that matches nothing means another run owns the row now: say so, never act twice.
    lost: (detail) => {
      ctx.out.warn(`message #${row.id}: ${TAKEN_OVER}; ${detail}`);
      return { ...base, outcome: 'queued', detail: `${TAKEN_OVER}; ${detail}` };
    },
  };
  return a;
}

/** A temporary failure before anything was sent: back to pending with backoff (the attempt counts). */
async function defer(a: RowAttempt, detail: string): Promise<DeliveryResult> {
  const next = new Date(a.ctx.clock().getTime() + backoffMs(a.row.attempts));
  const msg = `${detail}; \`outbox flush\` retries after ${when(next)}`;
  if ((await a.settle({ status: 'pending', next_attempt_at: next, last_error: msg })) === false) return a.lost(`this run's attempt failed: ${detail}`);
  return { ...a.base, outcome: 'queued', detail: msg };
}

/** Failed for good before anything was sent (a bad stored address, a refused mint). */
async function fail(a: RowAttempt, detail: string): Promise<DeliveryResult> {
  if ((await a.settle({ status: 'failed', last_error: detail, relay_response: null })) === false) return a.lost('nothing was sent by this run');
  return { ...a.base, outcome: 'failed', detail };
}

/**
 * One attempt for one claimed row; never throws for a send or database failure. With a settler, the
 * outcome is written together with the rest of the row's batch.
 */
export async function deliverOne(ctx: AppContext, knex: Knex, transport: MailTransport, row: OutboxListRow, settler?: BatchSettler): Promise<DeliveryResult> {
  const a = rowAttempt(ctx, knex, row, settler);
  const result = await attempt(a, transport);
  return a.unrecorded ? { ...result, unrecorded: true } : result;
}

async function attempt(a: RowAttempt, transport: MailTransport): Promise<DeliveryResult> {
  const { ctx, knex, row } = a;
  // The claim was taken (claimDue) when this row's batch began, and a batch ends well within
  // STALE_SENDING_MS even at every timeout: no other run can have taken the row over before this attempt.
  const bad = badRecipient(row);
  if (bad) return fail(a, bad);

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
    if (err instanceof UsageError) {
      // Our own configuration, not the message's fault: back to pending uncounted, and the run stops.
      const why = `not attempted: ${firstLine(err)}`;
      if ((await a.settle({ status: 'pending', last_error: why, uncount: true })) === false) return a.lost('nothing was sent by this run');
      return { ...a.base, outcome: 'queued', detail: why, fatal: err };
    }
    if (err instanceof MintSuperseded) {
      // Cancelled, not failed: a newer message of its kind replaced it (src/db/outbox-supersede.ts).
      if ((await a.settle({ status: 'failed', last_error: err.message, relay_response: null })) === false) return a.lost('nothing was sent by this run');
      return { ...a.base, outcome: 'superseded', detail: `${err.message}: nothing of it was sent and nothing will be retried` };
    }
    const detail = `could not prepare the message: ${firstLine(err)}`;
    // A MintRefused is the message's own problem; anything else (the database failed while minting) is retried.
    return err instanceof MintRefused ? fail(a, detail) : defer(a, detail);
  }

  const envelope = having(row.recipients, 'pending').map((r) => r.address);
  let report: AttemptReport;
  let emlPath: string | undefined;
  try {
    const info = await transport.send({
      to: row.to_address,
      cc: row.cc,
      subject: row.subject,
      ...parts,
      messageId: row.message_id!,
      date: ctx.clock(),
      ...(envelope.length < row.recipients.length ? { envelopeTo: envelope } : {}),
    });
    report = reportOfResult(info);
    emlPath = info.emlPath;
  } catch (err) {
    report = reportOfError(err);
  }
  return settleAttempt(a, { target: transport.target, envelope, report, emlPath, minted });
}

/** Write what the relay said: per-recipient state, the row's status, and the link's fate. */
async function settleAttempt(
  a: RowAttempt,
  o: { target: string; envelope: string[]; report: AttemptReport; emlPath?: string; minted?: MintedLink },
): Promise<DeliveryResult> {
  const { ctx, knex, row } = a;
  const applied = applyAttempt(row.recipients, o.envelope, o.report);
  let recipients = applied.recipients;
  const gaveUp = rowStatus(recipients) === 'pending' && row.attempts >= MAX_ATTEMPTS;
  if (gaveUp) recipients = giveUp(recipients, `gave up after ${row.attempts} attempts`);
  const status = rowStatus(recipients);
  const now = ctx.clock();
  const next = status === 'pending' ? new Date(now.getTime() + backoffMs(row.attempts)) : undefined;
  const detail = describe(applied, recipients, o.report, { target: o.target, emlPath: o.emlPath, next, gaveUp: gaveUp ? row.attempts : 0, whole: o.envelope.length === row.recipients.length });

  // Nobody got this copy: no link may stay valid that nobody received (a retry mints a fresh one). Once
  // anyone has it, its link is theirs: never revoked, whatever happens to the bookkeeping below.
  if (applied.accepted.length === 0) await revoke(ctx, knex, o.minted, applied.deferred.length ? 'delivery deferred' : 'relay refused the message');
  else await bestEffort(ctx, row.id, 'record the delivered link', () => o.minted?.delivered?.(knex));

  const written = await a.settle({
    status,
    recipients,
    last_error: status === 'sent' ? null : detail,
    relay_response: o.report.response || null,
    ...(next ? { next_attempt_at: next } : {}),
    ...(applied.accepted.length ? { sent_at: now } : {}),
    ...(o.emlPath ? { eml_path: o.emlPath } : {}),
  });
  const outcome = status === 'sent' ? 'sent' : status === 'pending' ? 'queued' : 'failed';
  const result: DeliveryResult = { ...a.base, outcome, detail, recipients, ...(o.emlPath ? { emlPath: o.emlPath } : {}) };
  if (o.report.whole?.unreachable && applied.accepted.length === 0) result.unreachable = true;
  if (written === false) {
    if (applied.accepted.length === 0) return a.lost(`this run's attempt was not delivered: ${detail}`);
    // The relay has it, but the row belongs to the other run now, which may deliver a second copy.
    ctx.out.warn(`message #${row.id}: ${TAKEN_OVER}; this run's copy was ${detail}, so it may arrive twice (same Message-ID)`);
    return { ...result, detail: `${detail}; ${TAKEN_OVER}, so it may arrive twice` };
  }
  if (written === 'unrecorded') {
    const note = applied.accepted.length ? 'the relay has it, but the database could not record that, so a later flush may send it again (same Message-ID)' : 'the database could not record this attempt';
    return { ...result, detail: `${detail}; ${note}` };
  }
  return result;
}

interface DescribeOptions {
  target: string;
  emlPath?: string;
  next?: Date;
  gaveUp: number;
  /** This attempt addressed every recipient (the first, or nobody had it yet). */
  whole: boolean;
}

/** The outcome text, naming recipients whenever they did not all fare alike. */
function describe(a: Applied, recipients: RecipientState[], report: AttemptReport, o: DescribeOptions): string {
  const status = rowStatus(recipients);
  if (status === 'sent') {
    if (o.emlPath) return `written to ${o.emlPath}`;
    return o.whole ? `accepted by ${o.target}: ${report.response}` : `accepted by ${o.target} for ${listOf(a.accepted)} (the other recipients had it already): ${report.response}`;
  }
  const sent = having(recipients, 'sent');
  if (o.gaveUp) {
    const last = report.whole?.detail ?? listOf(a.deferred.length ? a.deferred : a.refused, true);
    return `gave up after ${o.gaveUp} attempts; last error: ${last}${sent.length ? `; delivered to ${listOf(sent)}` : ''}`;
  }
  const refused = having(recipients, 'failed');
  if (status === 'failed') {
    const all = recipients.length === 1 && report.whole && !report.refusals.length;
    return all ? `refused by the relay: ${report.whole!.detail}` : refusedSummary(recipients);
  }
  const pending = having(recipients, 'pending');
  const retry = `\`outbox flush\` retries after ${when(o.next)}`;
  if (pending.length === recipients.length && report.whole && !report.refusals.length) return `${report.whole.detail}; ${retry}`;
  const parts = [
    ...(a.accepted.length ? [`accepted for ${listOf(a.accepted)}`] : []),
    `deferred for ${listOf(pending, true)}`,
    ...(refused.length ? [`refused for good for ${listOf(refused, true)}`] : []),
  ];
  // No brackets: the detail is often quoted inside a bracketed outcome message already.
  const only = recipients.length > pending.length ? `, for ${pending.length === 1 ? 'that recipient' : 'those recipients'} only` : '';
  return `${parts.join('; ')}; ${retry}${only}`;
}

/** Revoke a link whose message did not go out; a failure to revoke is reported, not fatal (only a hash is stored). */
async function revoke(ctx: AppContext, knex: Knex, minted: MintedLink | undefined, reason: string): Promise<void> {
  try {
    await minted?.revoke(knex, reason);
  } catch (err) {
    ctx.out.warn(`could not revoke the undelivered link: ${firstLine(err)}`);
  }
}

async function bestEffort(ctx: AppContext, id: number, what: string, fn: () => Promise<void> | undefined): Promise<void> {
  try {
    await persist(async () => fn());
  } catch (err) {
    ctx.out.warn(`message #${id}: could not ${what}: ${firstLine(err)}`);
  }
}
