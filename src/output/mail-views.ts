/** How the mail commands look: the outbox table, `mail test` and `mail doctor` documents. */
import { wasCancelled, type OutboxListRow } from '../db/outbox.js';
import type { DoctorReport } from '../mail/dns.js';
import type { RelayTestResult } from '../mail/relay.js';
import { cell, iso, shortTime, wrap } from './format.js';
import type { ListView } from './render.js';
import { paint, renderFields, type Column } from './table.js';

const statusColour = (text: string) => (text === 'failed' ? paint.bad(text) : text === 'sent' ? paint.good(text) : paint.warn(text));

/** Pending rows show when they are due; failed rows show why ("1/3 refused" when only some recipients were). */
function nextOrError(r: OutboxListRow): string {
  if (r.status === 'pending' || r.status === 'sending') return r.last_error ? `${shortTime(r.next_attempt_at)} ${r.last_error}` : shortTime(r.next_attempt_at);
  if (r.status === 'failed') {
    const refused = r.recipients.filter((x) => x.status === 'failed');
    return refused.length < r.recipients.length ? `${refused.length}/${r.recipients.length} refused: ${refused.map((x) => x.address).join(', ')}` : (r.last_error ?? '');
  }
  return shortTime(r.sent_at);
}

/** The first recipient and "+N" for the copies. */
function recipientsCell(r: OutboxListRow): string {
  return `${r.to_address}${r.recipients.length > 1 ? ` +${r.recipients.length - 1}` : ''}`;
}

/** The JSON (and CSV) record of one message. */
export function outboxJson(r: OutboxListRow): Record<string, unknown> {
  return {
    id: r.id,
    createdAt: iso(r.created_at),
    kind: r.kind,
    userId: r.user_id,
    user: r.username,
    to: r.to_address,
    // Each recipient (to, then cc) and how far its delivery got: sent, pending (with the deferral) or failed.
    recipients: r.recipients.map(({ address, role, status, response }) => ({ address, role, status, response })),
    subject: r.subject,
    status: shownStatus(r),
    attempts: r.attempts,
    nextAttemptAt: r.status === 'pending' ? iso(r.next_attempt_at) : null,
    // Only a sent message has gone out to everyone; who has a partly delivered one is in `recipients`.
    sentAt: r.status === 'sent' ? iso(r.sent_at) : null,
    lastError: r.last_error,
    relayResponse: r.relay_response,
    messageId: r.message_id,
    emlPath: r.eml_path,
    ticket: r.ticket,
  };
}

/** A message a newer one replaced before it went out is 'cancelled', not 'failed' (stored as failed, "cancelled: …"). */
const shownStatus = (r: OutboxListRow): string => (wasCancelled(r) ? 'cancelled' : r.status);

/** `outbox`: the id is the key; on a narrow terminal the recipient and the error give way (never off a terminal). */
export function outboxView(): ListView<OutboxListRow> {
  const columns: Column<OutboxListRow>[] = [
    { header: 'ID', value: (r) => r.id },
    { header: 'CREATED (UTC)', value: (r) => shortTime(r.created_at) },
    { header: 'KIND', value: (r) => r.kind },
    { header: 'TO', value: recipientsCell, shrink: 12 },
    { header: 'STATUS', value: shownStatus, colour: statusColour },
    { header: 'TRY', value: (r) => r.attempts },
    // Never narrower than a time ("2026-11-28 23:36"): times are never cut, a long error gives way after them.
    { header: 'WHEN / ERROR', value: nextOrError, shrink: 16 },
  ];
  return { columns, toJson: outboxJson, empty: 'no messages match' };
}

const yesNo = (v: boolean, color: boolean) => (color ? (v ? paint.good('yes') : paint.bad('no')) : v ? 'yes' : 'no');

/** `mail test` in table mode. */
export function relayTestText(r: RelayTestResult, color: boolean): string {
  const fields: Array<[string, unknown]> = [
    ['relay', r.relay],
    ['connected', yesNo(r.connected, color)],
    ['authenticated', yesNo(r.authenticated, color)],
    ['sent', yesNo(r.sent, color)],
    ['DKIM-signed', yesNo(r.dkimSigned, color)],
    ['message id', r.messageId ?? '(none)'],
  ];
  if (r.emlPath) fields.push(['file', r.emlPath]);
  return `${renderFields(fields, color)}\n${cell(r.detail)}`;
}

/** `mail doctor` in table mode: one line per check, then its fix. */
export function doctorText(r: DoctorReport, color: boolean): string {
  const mark = (s: string) => (color ? (s === 'ok' ? paint.good(s) : s === 'warn' ? paint.warn(s) : paint.bad(s)) : s);
  const lines = [`sender domain: ${r.domain === null ? '(none: HMIS_MAIL_FROM is not set)' : cell(r.domain)}`];
  for (const c of r.checks) {
    lines.push(wrap(`${mark(c.status.padEnd(4))}  ${c.id.padEnd(9)} `, cell(c.message), 80, 16));
    if (c.fix) lines.push(wrap(`${' '.repeat(16)}fix: `, cell(c.fix), 80, 21)); // whole records: see --json
  }
  return lines.join('\n');
}
