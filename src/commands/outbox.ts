/** `outbox [--status …]` lists the durable mail queue; `outbox flush` delivers what is due (for cron). */
import type { AppContext } from '../context.js';
import { UsageError } from '../errors.js';
import type { OutboxFilter } from '../db/outbox.js';
import { deliverOutbox, listOutbox, previewDue, type DeliveryResult, type OutboxListRow } from '../mail/outbox.js';
import type { Outcome } from '../output/views.js';
import { parseCount, quote } from '../parse.js';

export const OUTBOX_STATUSES = ['pending', 'sending', 'sent', 'failed', 'cancelled'] as const;

export interface OutboxOpts {
  status?: string;
  limit?: string;
}

/** Messages newest first; 100 unless --limit says otherwise. */
export async function outbox(opts: OutboxOpts, ctx: AppContext): Promise<AsyncIterable<OutboxListRow>> {
  if (opts.status !== undefined && !(OUTBOX_STATUSES as readonly string[]).includes(opts.status)) {
    throw new UsageError(`--status ${quote(opts.status)} is not a message status; use one of ${OUTBOX_STATUSES.join(', ')}`);
  }
  const limit = opts.limit === undefined ? 100 : parseCount(opts.limit, '--limit', 1);
  return listOutbox(ctx, { status: opts.status as OutboxFilter['status'] }, limit);
}

export interface FlushOpts {
  limit?: string;
  dryRun?: boolean;
}

/** Deliver due messages; exit 4 when some failed for good, 1 when the relay was unreachable for all. */
export async function flush(opts: FlushOpts, ctx: AppContext): Promise<{ results: Outcome[]; exitCode: number }> {
  const limit = opts.limit === undefined ? undefined : parseCount(opts.limit, '--limit', 1);
  await requireFlushConfig(ctx);
  if (opts.dryRun) {
    const due = await previewDue(ctx, limit ?? Infinity);
    if (!due.length) ctx.out.notice('no mail is due');
    return {
      results: due.map((r) => ({ user: r.username ?? r.to_address, outcome: 'would_send', message: `#${r.id} ${r.kind} to ${r.to_address}, attempt ${r.attempts + 1}` })),
      exitCode: 0,
    };
  }
  const results = await deliverOutbox(ctx, { limit });
  if (!results.length) ctx.out.notice('no mail is due');
  const exitCode = flushExitCode(results);
  if (exitCode === 1) ctx.out.warn('the mail relay could not be reached; every message stays queued for the next `hmis-admin outbox flush`');
  return { results: results.map(outcomeOf), exitCode };
}

/**
 * A run from cron must show a configuration mistake on its first run, not on the day a reset link happens
 * to be queued: whatever is due (a reminder, nothing at all), the run refuses (exit 2, nothing claimed)
 * unless it could deliver every kind of message, and --dry-run checks the same.
 */
async function requireFlushConfig(ctx: AppContext): Promise<void> {
  const [{ checkKindsConfig, LINK_KINDS }, { checkTransportConfig }] = await Promise.all([import('../mail/minters.js'), import('../mail/transport.js')]);
  await checkKindsConfig(ctx.config, LINK_KINDS);
  await checkTransportConfig(ctx.config);
}

/**
 * 4 if any message failed for good; 1 if none got through because the relay was unreachable, or the
 * database could not record an outcome (that row stays 'sending' until the stale recovery); else 0.
 */
export function flushExitCode(results: DeliveryResult[]): number {
  if (results.some((r) => r.outcome === 'failed')) return 4;
  if (results.some((r) => r.unrecorded)) return 1;
  if (results.length > 0 && results.every((r) => r.outcome === 'queued' && r.unreachable)) return 1;
  return 0;
}

/** One `{"user", "outcome", "message"}` row per message. */
export function outcomeOf(r: DeliveryResult): Outcome {
  return { user: r.username ?? r.to, outcome: r.outcome, message: `#${r.id} ${r.kind} to ${r.to}: ${r.detail}` };
}
