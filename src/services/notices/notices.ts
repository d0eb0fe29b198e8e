/**
 * Notices about lockouts, expiry and agreements: composed here, recorded in the outbox inside the
 * caller's transaction (so the mail exists exactly when the change does), delivered after commit.
 */
import type { Knex } from 'knex';
import type { AppContext } from '../../context.js';
import { renderMail, senderAddress } from '../../mail/compose.js';
import { deliverOutbox, enqueueMany } from '../../mail/outbox.js';
import { quote } from '../../parse.js';
import { parseEmailAddress } from '../email/email-address.js';

export interface Notice {
  kind: 'notice' | 'reminder';
  userId: number;
  to: string;
  cc?: string[];
  subject: string;
  greeting: string;
  paragraphs: string[];
  ticket?: string | null;
  params?: Record<string, unknown>;
}

/** The recipients a notice may go to, and a line for each stored address that was left out and why. */
export function noticeRecipients(to: string, cc: string[] = []): { to: string | null; cc: string[]; dropped: string[] } {
  const valid: string[] = [];
  const dropped: string[] = [];
  for (const [what, raw] of [['to', to] as const, ...cc.map((c) => ['cc', c] as const)]) {
    if (!raw) continue;
    // A stored address is text somebody typed or imported: "victim@agency.org, attacker@evil.example"
    // would otherwise become two recipients. Only one plain address is ever addressed.
    const p = parseEmailAddress(raw);
    if (!p.ok) dropped.push(`the ${what} address ${quote(raw)} ${p.reason}`);
    else if (!valid.some((v) => v.toLowerCase() === p.address.toLowerCase())) valid.push(p.address);
  }
  const [first, ...rest] = valid;
  return { to: first ?? null, cc: rest, dropped };
}

/**
 * Record one notice in the outbox inside `trx`; returns the outbox id. Every address is validated first:
 * invalid ones are left out (the row's params say which, and deliveryNote tells the caller). With no valid
 * recipient left nothing is queued for sending: the row is recorded as failed, saying why.
 */
export async function queueNotice(trx: Knex | Knex.Transaction, ctx: AppContext, n: Notice): Promise<number> {
  return (await queueNotices(trx, ctx, [n]))[0]!;
}

/** Record a page of notices in one statement; returns their outbox ids in order. */
export async function queueNotices(trx: Knex | Knex.Transaction, ctx: AppContext, notices: Notice[]): Promise<number[]> {
  const sender = senderAddress(ctx.config);
  return enqueueMany(
    trx,
    notices.map((n) => {
      const { text, html } = renderMail({ greeting: n.greeting, paragraphs: n.paragraphs, senderHint: sender });
      const r = noticeRecipients(n.to, n.cc);
      return {
        kind: n.kind,
        userId: n.userId,
        to: r.to ?? n.to,
        cc: r.to && r.cc.length ? r.cc : undefined,
        subject: n.subject,
        text,
        html,
        params: { ...n.params, ...(r.dropped.length ? { droppedRecipients: r.dropped } : {}) },
        ticket: n.ticket ?? null,
        failedBecause: r.to ? undefined : `not sent: no valid recipient (${r.dropped.join('; ')}); correct the address, e.g. with \`hmis-admin email set <user> <address>\``,
      };
    }),
  );
}

export type Delivery = 'sent' | 'queued' | 'failed' | 'superseded';

/** One notice's delivery; `dropped` names the stored addresses it was not sent to, and why. */
export interface NoticeDelivery {
  outcome: Delivery;
  detail: string;
  /** Where the .eml went when no relay is configured (CONTRACT: the path is printed). */
  emlPath?: string;
  dropped?: string[];
}

/** Deliver recorded notices after commit; a failure never undoes the change (`outbox flush` retries). */
export async function deliverNotices(ctx: AppContext, ids: number[]): Promise<Map<number, NoticeDelivery>> {
  const out = new Map<number, NoticeDelivery>();
  if (!ids.length) return out;
  try {
    const results = await deliverOutbox(ctx, { ids });
    for (const r of results) out.set(Number(r.id), { outcome: r.outcome, detail: r.detail, emlPath: r.emlPath });
  } catch (err) {
    // The relay or the transport failed as a whole: the rows stay pending for `outbox flush`.
    for (const id of ids) out.set(id, { outcome: 'queued', detail: (err as Error).message.split('\n')[0]! });
  }
  // What the attempt does not say: notices never queued (no valid recipient) and addresses left out.
  const { knex } = await ctx.db();
  const rows = (await knex('mail_outbox').whereIn('id', ids).select('id', 'status', 'last_error', 'params')) as Array<{ id: number | string; status: string; last_error: string | null; params: unknown }>;
  for (const row of rows) {
    const id = Number(row.id);
    const params = (typeof row.params === 'string' ? JSON.parse(row.params) : row.params ?? {}) as { droppedRecipients?: unknown };
    const dropped = Array.isArray(params.droppedRecipients) ? params.droppedRecipients.map(String) : [];
    const d = out.get(id);
    if (d) out.set(id, dropped.length ? { ...d, dropped } : d);
    else if (row.status === 'failed') out.set(id, { outcome: 'failed', detail: row.last_error ?? '' }); // its detail names the addresses

  }
  return out;
}

/** How a delivery reads at the end of an outcome message. */
export function deliveryNote(what: string, d: NoticeDelivery | undefined): string {
  const left = d?.dropped?.length ? `; not sent to ${d.dropped.join('; ')}` : '';
  if (!d) return `${what} queued; \`hmis-admin outbox flush\` sends it`;
  if (d.outcome === 'sent') return `${what} sent${d.emlPath ? ` (written to ${d.emlPath})` : ''}${left}`;
  if (d.outcome === 'queued') return `${what} queued (${d.detail || 'relay not reached'}); \`hmis-admin outbox flush\` retries it${left}`;
  return `${what} failed (${d.detail || 'refused by the relay'}); see \`hmis-admin outbox --status failed\`${left}`;
}
