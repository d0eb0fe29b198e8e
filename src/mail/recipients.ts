/**
 * Per-recipient bookkeeping of one delivery attempt. A relay answers each RCPT TO on its own: it may take
 * the user and refuse the director, for now (4xx: the recipient stays pending and is retried alone) or
 * for good (5xx: failed, and reported). Pure functions: the outbox writes their result in one UPDATE.
 */
import { classifySendError, refusalsOf, type Refusal, type SendFailure, type SendResult } from './transport.js';
import type { RecipientState, RecipientStatus } from './types.js';

/** What one attempt said about the recipients it addressed. */
export interface AttemptReport {
  accepted: string[];
  refusals: Refusal[];
  /** The message as a whole failed (relay down, dropped, refused at DATA): applies to everyone else. */
  whole?: SendFailure;
  /** The relay's reply, for the record. */
  response: string;
}

/** The report of a send that resolved: accepted, and refused one by one. */
export function reportOfResult(r: SendResult): AttemptReport {
  const explained = new Set(r.refusals.map((x) => x.address.toLowerCase()));
  // A rejected address without a reason is treated as deferred: a retry can never lose it.
  const unexplained = r.rejected.filter((a) => !explained.has(a.toLowerCase())).map((address) => ({ address, code: null, response: r.response || 'refused without a reason' }));
  return { accepted: r.accepted, refusals: [...r.refusals, ...unexplained], response: r.response };
}

/** The report of a send that threw: every recipient refused at RCPT TO (each with its reply), or a failure of the whole message. */
export function reportOfError(err: unknown): AttemptReport {
  const whole = classifySendError(err);
  const e = err as { code?: string; command?: string; rejectedErrors?: unknown[] };
  const refusals = e.code === 'EENVELOPE' && e.command === 'RCPT TO' ? refusalsOf(e.rejectedErrors) : [];
  return { accepted: [], refusals, whole, response: whole.detail };
}

export interface Applied {
  recipients: RecipientState[];
  /** Accepted in this attempt. */
  accepted: RecipientState[];
  /** Addressed in this attempt and still pending (deferred). */
  deferred: RecipientState[];
  /** Refused for good in this attempt. */
  refused: RecipientState[];
}

const key = (address: string) => address.toLowerCase();

/** Apply an attempt's report to the recipients it addressed (`envelope`); the others keep their state. */
export function applyAttempt(before: RecipientState[], envelope: string[], report: AttemptReport): Applied {
  const addressed = new Set(envelope.map(key));
  const accepted = new Set(report.accepted.map(key));
  const refusals = new Map(report.refusals.map((r) => [key(r.address), r]));
  const out: Applied = { recipients: [], accepted: [], deferred: [], refused: [] };
  for (const r of before) {
    if (r.status !== 'pending' || !addressed.has(key(r.address))) {
      out.recipients.push(r);
      continue;
    }
    const refusal = refusals.get(key(r.address));
    let next: RecipientState;
    if (accepted.has(key(r.address))) next = { ...r, status: 'sent', response: report.response || 'accepted' };
    else if (refusal) next = { ...r, status: refusal.code !== null && refusal.code >= 500 ? 'failed' : 'pending', response: refusal.response };
    else if (report.whole) next = { ...r, status: report.whole.temporary ? 'pending' : 'failed', response: report.whole.detail };
    // The relay said nothing about it: it is tried again rather than assumed delivered.
    else next = { ...r, response: 'the relay gave no answer for this recipient' };
    out.recipients.push(next);
    (next.status === 'sent' ? out.accepted : next.status === 'failed' ? out.refused : out.deferred).push(next);
  }
  return out;
}

/** After the last attempt: whoever is still pending has failed, saying why. */
export function giveUp(recipients: RecipientState[], why: string): RecipientState[] {
  return recipients.map((r) => (r.status === 'pending' ? { ...r, status: 'failed', response: `${why}; last reply: ${r.response ?? 'none'}` } : r));
}

/** The row's status: pending while anyone is; failed when anyone was refused for good; else sent. */
export function rowStatus(recipients: RecipientState[]): RecipientStatus {
  if (recipients.some((r) => r.status === 'pending')) return 'pending';
  return recipients.some((r) => r.status === 'failed') ? 'failed' : 'sent';
}

/** Recipients with a given status. */
export function having(recipients: RecipientState[], status: RecipientStatus): RecipientState[] {
  return recipients.filter((r) => r.status === status);
}

/** "a@x, b@x", or with the relay's replies "a@x (451 …), b@x (550 …)". */
export function listOf(recipients: RecipientState[], withReply = false): string {
  return recipients.map((r) => (withReply && r.response ? `${r.address} (${r.response})` : r.address)).join(', ');
}

/** What a settled message with refused recipients says: who was refused for good, and who has it. */
export function refusedSummary(recipients: RecipientState[]): string {
  const sent = having(recipients, 'sent');
  return `refused for good for ${listOf(having(recipients, 'failed'), true)}; ${sent.length ? `delivered to ${listOf(sent)}` : 'nobody received it'}`;
}
