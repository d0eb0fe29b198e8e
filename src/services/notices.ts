/**
 * Notices about lockouts, expiry and agreements: composed here, recorded in the outbox inside the
 * caller's transaction (so the mail exists exactly when the change does), delivered after commit.
 */
import type { Knex } from 'knex';
import type { AppContext } from '../context.js';
import { renderMail, senderAddress } from '../mail/compose.js';
import { deliverOutbox, enqueueMail } from '../mail/outbox.js';

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

/** Record one notice in the outbox inside `trx`; returns the outbox id. */
export async function queueNotice(trx: Knex | Knex.Transaction, ctx: AppContext, n: Notice): Promise<number> {
  const sender = senderAddress(ctx.config);
  const { text, html } = renderMail({ greeting: n.greeting, paragraphs: n.paragraphs, senderHint: sender });
  const cc = [...new Set((n.cc ?? []).filter((a) => a && a.toLowerCase() !== n.to.toLowerCase()))];
  return enqueueMail(trx, {
    kind: n.kind,
    userId: n.userId,
    to: n.to,
    cc: cc.length ? cc : undefined,
    subject: n.subject,
    text,
    html,
    params: n.params,
    ticket: n.ticket ?? null,
  });
}

export type Delivery = 'sent' | 'queued' | 'failed';

/** Deliver recorded notices after commit; a failure never undoes the change (`outbox flush` retries). */
export async function deliverNotices(ctx: AppContext, ids: number[]): Promise<Map<number, { outcome: Delivery; detail: string }>> {
  const out = new Map<number, { outcome: Delivery; detail: string }>();
  if (!ids.length) return out;
  try {
    const results = await deliverOutbox(ctx, { ids });
    for (const r of results) out.set(Number(r.id), { outcome: r.outcome, detail: r.detail });
  } catch (err) {
    // The relay or the transport failed as a whole: the rows stay pending for `outbox flush`.
    for (const id of ids) out.set(id, { outcome: 'queued', detail: (err as Error).message.split('\n')[0]! });
  }
  return out;
}

/** How a delivery reads at the end of an outcome message. */
export function deliveryNote(what: string, d: { outcome: Delivery; detail: string } | undefined): string {
  if (!d) return `${what} queued; \`hmis-admin outbox flush\` sends it`;
  if (d.outcome === 'sent') return `${what} sent`;
  if (d.outcome === 'queued') return `${what} queued (${d.detail || 'relay not reached'}); \`hmis-admin outbox flush\` retries it`;
  return `${what} failed (${d.detail || 'refused by the relay'}); see \`hmis-admin outbox --status failed\``;
}
