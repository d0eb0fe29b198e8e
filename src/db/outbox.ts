/**
 * The SQL of the mail outbox. Every state change is a conditional UPDATE … RETURNING, so two
 * `outbox flush` runs (cron overlapping a helpdesk send) never claim or mark one row twice.
 */
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { MailKind, OutboxRow, RecipientState } from '../mail/types.js';
import { inPages, pageById } from './paging.js';

export interface OutboxListRow extends OutboxRow {
  username: string | null;
}

/** Rows the CLI lists: a table column set and the user's name. */
export type OutboxStatus = OutboxRow['status'];

function normalise<T extends OutboxRow>(row: T): T {
  row.id = Number(row.id);
  row.attempts = Number(row.attempts);
  // A host's user ids are bigint (Rails), which pg returns as strings.
  if (row.user_id !== null && row.user_id !== undefined) row.user_id = Number(row.user_id);
  if (typeof row.params === 'string') row.params = JSON.parse(row.params) as Record<string, unknown>;
  if (typeof row.cc === 'string') row.cc = JSON.parse(row.cc) as string[];
  row.recipients = recipientsOf(row);
  return row;
}

/**
 * Each recipient's state. A row written before per-recipient state (recipients null), or settled as a
 * whole without an attempt (cancelled, no valid address), has every still-pending recipient share the
 * row's final status.
 */
function recipientsOf(row: OutboxRow): RecipientState[] {
  const raw = (row as { recipients: unknown }).recipients;
  const stored = (typeof raw === 'string' ? JSON.parse(raw) : raw) as RecipientState[] | null;
  const list = stored?.length ? stored : initialRecipients(row.to_address, row.cc);
  const settled = row.status === 'sent' || row.status === 'failed' ? row.status : null;
  return settled ? list.map((r) => (r.status === 'pending' ? { ...r, status: settled } : r)) : list;
}

/** The recipients of a new message, all pending: `to`, then each cc not already listed (any case). */
export function initialRecipients(to: string, cc: string[]): RecipientState[] {
  const out: RecipientState[] = [{ address: to, role: 'to', status: 'pending', response: null }];
  for (const c of cc) if (!out.some((r) => r.address.toLowerCase() === c.toLowerCase())) out.push({ address: c, role: 'cc', status: 'pending', response: null });
  return out;
}

/** Insert rows in one statement; returns their ids in the order given (PostgreSQL returns a VALUES list in order). */
export async function insertOutbox(db: Knex | Knex.Transaction, rows: Array<Record<string, unknown>>): Promise<number[]> {
  const inserted = (await db('mail_outbox').insert(rows).returning('id')) as Array<{ id: number | string }>;
  return inserted.map((r) => Number(r.id));
}

/** A crashed run leaves rows in 'sending': after `staleMs` they are due again. */
export async function recoverStale(db: Knex, now: Date, staleMs: number): Promise<number> {
  const rows = await db('mail_outbox')
    .where('status', 'sending')
    .where('claimed_at', '<', new Date(now.getTime() - staleMs))
    .update({
      status: 'pending',
      next_attempt_at: now,
      claimed_at: null,
      // The run that claimed it loses ownership: its late marks no longer match.
      claim_id: null,
      last_error: 'the delivery run that claimed this message stopped before it finished; retrying',
    })
    .returning('id');
  return rows.length;
}

/** How many rows are due (for the progress bar). */
export async function countDue(db: Knex, now: Date, ids?: number[]): Promise<number> {
  const q = dueQuery(db, now, ids).count({ n: '*' });
  return Number(((await q) as Array<{ n: number | string }>)[0]!.n);
}

/** The kinds among the due rows (what a run is about to deliver, for its configuration check). */
export async function dueKinds(db: Knex, now: Date, ids?: number[]): Promise<MailKind[]> {
  return (await dueQuery(db, now, ids).distinct('kind').pluck('kind')) as MailKind[];
}

// A row never tried yet is due whatever its timestamp says: the clock that enqueued it may differ.
function dueQuery(db: Knex, now: Date, ids?: number[]) {
  const q = db('mail_outbox').where('status', 'pending').where((w) => w.where('next_attempt_at', '<=', now).orWhere('attempts', 0));
  if (ids) q.whereIn('id', ids);
  return q;
}

/**
 * Claim up to `limit` due rows: status 'sending', one more attempt, claimed now, under a fresh claim_id
 * that every later mark must present. SKIP LOCKED lets a parallel run take other rows instead of
 * waiting. A caller naming its rows (`reset send` delivering what it just queued) waits for a lock
 * instead: the holder is a short transaction cancelling or claiming that very row, and the row must be
 * judged after it (cancelled: superseded), not skipped as if it were not due. The Message-ID gets its
 * sender domain once.
 */
export async function claimDue(db: Knex, now: Date, limit: number, domain: string, ids?: number[], names: NameLookup = noNames): Promise<OutboxListRow[]> {
  return db.transaction(async (trx) => {
    // Two statements, not `update … where id in (select … limit n for update skip locked)`: in that
    // form PostgreSQL may rescan the subquery, skip the rows it just updated and claim far more than n.
    const select = dueQuery(trx, now, ids)
      .select('id')
      .orderBy([{ column: 'next_attempt_at' }, { column: 'id' }])
      .limit(limit)
      .forUpdate();
    const due = (await (ids ? select : select.skipLocked())) as Array<{ id: number | string }>;
    if (!due.length) return [];
    const rows = (await trx('mail_outbox')
      .whereIn('id', due.map((d) => Number(d.id)))
      .where('status', 'pending')
      .update({
        status: 'sending',
        attempts: trx.raw('attempts + 1'),
        claimed_at: now,
        claim_id: randomUUID(),
        message_id: trx.raw("case when message_id like '%@%' then message_id else '<' || message_id || '@' || ? || '>' end", [domain]),
      })
      .returning('*')) as OutboxRow[];
    return rows;
  }).then((rows) => named(rows, names)).then((rows) => rows.sort((a, b) => a.id - b.id));
}

/** Account names by id: the account store answers (the host's table may not be joinable from here). */
export type NameLookup = (ids: number[]) => Promise<Map<number, string>>;
const noNames: NameLookup = async () => new Map();

/** Rows with their account's name, one lookup for all of them. */
async function named(rows: OutboxRow[], names: NameLookup): Promise<OutboxListRow[]> {
  const ids = [...new Set(rows.map((r) => r.user_id).filter((id): id is number => id !== null).map(Number))];
  const users = ids.length ? await names(ids) : new Map<number, string>();
  return rows.map((r) => normalise({ ...r, username: r.user_id === null ? null : (users.get(Number(r.user_id)) ?? null) }));
}

/** The row as this claim holds it: status 'sending' and still our claim_id (a stale recovery clears it). */
function claimed(db: Knex, id: number, claimId: string) {
  return db('mail_outbox').where({ id, status: 'sending', claim_id: claimId });
}

/**
 * Renew the claim just before an attempt (so a long batch is not taken for a crashed run); false when
 * another run has taken the row over, and this one must neither mint nor send.
 */
export async function touchClaim(db: Knex, id: number, claimId: string, now: Date): Promise<boolean> {
  return Number(await claimed(db, id, claimId).update({ claimed_at: now })) > 0;
}

/** How an attempt ends for a row: its new status and whatever else changes with it. */
export interface Settlement {
  status: 'pending' | 'sent' | 'failed';
  recipients?: RecipientState[];
  next_attempt_at?: Date;
  sent_at?: Date;
  last_error: string | null;
  relay_response?: string | null;
  eml_path?: string | null;
  /** Undo the claim's attempt count: the row was claimed but never tried (the run had to stop). */
  uncount?: boolean;
}

/**
 * End this claim's attempt: one conditional UPDATE, only while the row is still 'sending' under our
 * claim_id; false when another run took it over. The claim_id stays on the settled row, so when an
 * earlier try of this same write may have committed before its connection died (`afterError`), finding
 * the row settled under our claim means it did, and the write is not reported as lost.
 */
export async function settleClaim(db: Knex, id: number, claimId: string, s: Settlement, afterError = false): Promise<boolean> {
  const { uncount, recipients, ...fields } = s;
  const patch: Record<string, unknown> = { ...fields, claimed_at: null };
  if (recipients) patch.recipients = JSON.stringify(recipients);
  if (uncount) patch.attempts = db.raw('greatest(attempts - 1, 0)');
  const n = await claimed(db, id, claimId).update(patch);
  if (Number(n) > 0) return true;
  if (!afterError) return false;
  return Boolean(await db('mail_outbox').where({ id, claim_id: claimId }).whereNot('status', 'sending').first('id'));
}

/** One row's settlement in a batch: the row, the claim it was attempted under, and how it ended. */
export interface ClaimSettlement {
  id: number;
  claimId: string;
  settlement: Settlement;
}

/**
 * End many claims' attempts in one statement (a batch of `outbox flush`): the same conditional write as
 * settleClaim for each row, one round trip and one commit for all of them. Returns the ids written
 * (rows another run took over are not).
 */
export async function settleClaims(db: Knex, items: ClaimSettlement[]): Promise<Set<number>> {
  if (!items.length) return new Set();
  const set = (s: Settlement, k: keyof Settlement) => k in s && s[k] !== undefined;
  const records = items.map(({ id, claimId, settlement: s }) => ({
    id,
    claim_id: claimId,
    status: s.status,
    recipients: s.recipients ?? null,
    set_recipients: Boolean(s.recipients),
    next_attempt_at: s.next_attempt_at?.toISOString() ?? null,
    sent_at: s.sent_at?.toISOString() ?? null,
    last_error: s.last_error,
    relay_response: s.relay_response ?? null,
    set_relay: set(s, 'relay_response'),
    eml_path: s.eml_path ?? null,
    set_eml: set(s, 'eml_path'),
    uncount: Boolean(s.uncount),
  }));
  const { rows } = (await db.raw(
    `update mail_outbox m set
       status = v.status,
       recipients = case when v.set_recipients then v.recipients else m.recipients end,
       next_attempt_at = coalesce(v.next_attempt_at, m.next_attempt_at),
       sent_at = coalesce(v.sent_at, m.sent_at),
       last_error = v.last_error,
       relay_response = case when v.set_relay then v.relay_response else m.relay_response end,
       eml_path = case when v.set_eml then v.eml_path else m.eml_path end,
       attempts = case when v.uncount then greatest(m.attempts - 1, 0) else m.attempts end,
       claimed_at = null
     from jsonb_to_recordset(?::jsonb) as v(id bigint, claim_id text, status text, recipients jsonb, set_recipients boolean,
       next_attempt_at timestamptz, sent_at timestamptz, last_error text, relay_response text, set_relay boolean, eml_path text,
       set_eml boolean, uncount boolean)
     where m.id = v.id and m.claim_id = v.claim_id and m.status = 'sending'
     returning m.id`,
    [JSON.stringify(records)],
  )) as { rows: Array<{ id: number | string }> };
  return new Set(rows.map((r) => Number(r.id)));
}

/** The relay accepted: sent, with its reply. Only a row this claim still holds is marked; false otherwise. */
export async function markSent(db: Knex, id: number, claimId: string, now: Date, response: string, emlPath: string | null): Promise<boolean> {
  return settleClaim(db, id, claimId, { status: 'sent', sent_at: now, relay_response: response, eml_path: emlPath, last_error: null });
}

/** A temporary failure: back to pending, due again at `next` (only while this claim holds the row). */
export async function markRetry(db: Knex, id: number, claimId: string, next: Date, error: string): Promise<boolean> {
  return settleClaim(db, id, claimId, { status: 'pending', next_attempt_at: next, last_error: error });
}

/** Failed for good, with the relay's reply (or why it was given up); only while this claim holds the row. */
export async function markFailed(db: Knex, id: number, claimId: string, error: string, relayResponse: string | null): Promise<boolean> {
  return settleClaim(db, id, claimId, { status: 'failed', last_error: error, relay_response: relayResponse });
}

const CANCELLED = 'cancelled: ';

/**
 * Cancel a user's still-pending mail of these kinds (a newer message replaces it); returns how many.
 * The row becomes 'failed' with last_error "cancelled: <why>", which wasCancelled recognises.
 */
export async function cancelPending(trx: Knex.Transaction, userId: number, kinds: MailKind[], why: string): Promise<number> {
  return Number(await trx('mail_outbox').where('user_id', userId).whereIn('kind', kinds).where('status', 'pending').update({ status: 'failed', last_error: `${CANCELLED}${why}` }));
}

/** The row was cancelled by cancelPending (never attempted by anyone after that). */
export function wasCancelled(row: Pick<OutboxRow, 'status' | 'last_error'>): boolean {
  return row.status === 'failed' && Boolean(row.last_error?.startsWith(CANCELLED));
}

export interface OutboxFilter {
  /** 'cancelled': stored as failed with "cancelled: …" (a newer message replaced it); 'failed' leaves those out. */
  status?: OutboxStatus | 'cancelled';
  kind?: MailKind;
  userId?: number;
}

/** Newest first, paged on id so a long history streams. */
export async function* pageOutbox(db: Knex, filter: OutboxFilter, limit = Infinity, pageSize = 500, names: NameLookup = noNames): AsyncGenerator<OutboxListRow> {
  const build = () => {
    const q = db('mail_outbox as o').select('o.*');
    if (filter.status === 'cancelled') q.where('o.status', 'failed').where('o.last_error', 'like', `${CANCELLED}%`);
    else if (filter.status) q.where('o.status', filter.status);
    if (filter.status === 'failed') q.where((w) => w.whereNull('o.last_error').orWhere('o.last_error', 'not like', `${CANCELLED}%`));
    if (filter.kind) q.where('o.kind', filter.kind);
    if (filter.userId !== undefined) q.where('o.user_id', filter.userId);
    return q;
  };
  for await (const page of inPages(pageById<OutboxRow>(build, 'o.id', 'desc', limit, pageSize), pageSize)) yield* await named(page, names);
}

/** Due rows without claiming them (`outbox flush --dry-run`). */
export async function listDue(db: Knex, now: Date, limit: number, names: NameLookup = noNames): Promise<OutboxListRow[]> {
  const rows = (await dueQuery(db, now).orderBy([{ column: 'next_attempt_at' }, { column: 'id' }]).limit(limit).select('*')) as OutboxRow[];
  return named(rows, names);
}

/** One row by id. */
export async function findOutbox(db: Knex, id: number): Promise<OutboxRow | undefined> {
  const row = (await db('mail_outbox').where({ id }).first()) as OutboxRow | undefined;
  return row ? normalise(row) : undefined;
}

/** Rows by id, in one query (what became of the messages a run did not attempt). */
export async function findOutboxRows(db: Knex, ids: number[]): Promise<OutboxRow[]> {
  if (!ids.length) return [];
  const rows = (await db('mail_outbox').whereRaw('id = any(?::bigint[])', [ids])) as OutboxRow[];
  return rows.map((r) => normalise(r));
}
