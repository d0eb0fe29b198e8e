/**
 * Reminder stages before an agreement expires (HMIS_REMINDER_DAYS, default 30,14,7,1).
 *
 * The rule: on any run, an account with d days left (d >= 0) is due the smallest stage S with
 * d <= S. That stage is recorded in agreement_reminders, unique per (user, expiry, stage), in the
 * same transaction that puts the mail in the outbox. So a second run the same day finds the row
 * and sends nothing; a run after missed days sends the stage due now (once); a stage whose whole
 * window passed without a run is not sent late, because a later stage is due instead. Keying on
 * the expiry date means a renewed account starts its stages afresh.
 */
import type { AccountContacts, AccountStore } from '../../store/types.js';
import type { AppContext } from '../../context.js';
import type { Outcome } from '../../output/views.js';
import { count } from '../../output/format.js';
import { fullName } from '../accounts/accounts.js';
import { maskEmail, writeAudits } from '../accounts/audit.js';
import { parseEmailAddress } from '../email/email-address.js';
import { utcDayStart, ymd } from '../accounts/days.js';
import type { Signer } from '../accounts/detail.js';
import { expiringAccounts, inPages, signerLabel, type ExpiringRow } from '../accounts/expiry.js';
import { deliverNotices, deliveryNote, queueNotices, type Notice } from './notices.js';

/** The stage due at `daysLeft`, or undefined when none is (too early, or already expired). */
export function dueStage(daysLeft: number, stages: number[]): number | undefined {
  if (daysLeft < 0) return undefined;
  const due = stages.filter((s) => daysLeft <= s);
  return due.length ? Math.min(...due) : undefined;
}

export interface ReminderRun {
  results: AsyncGenerator<Outcome>;
  counts: Record<string, number>;
}

/** Send each account in the window the stage due today, once. `agencyId` narrows the run. */
export function sendReminders(ctx: AppContext, opts: { agencyId?: number; dryRun?: boolean; ticket?: string | null }): ReminderRun {
  const counts: Record<string, number> = { sent: 0, queued: 0, failed: 0, alreadySent: 0, wouldSend: 0 };
  const stages = ctx.config.reminderDays;
  async function* run(): AsyncGenerator<Outcome> {
    const store = await ctx.store();
    const now = ctx.clock();
    const before = utcDayStart(now, Math.max(...stages) + 1);
    for await (const page of inPages(expiringAccounts(store, { now, before, agencyId: opts.agencyId }), 500)) {
      const due = page.flatMap((row) => {
        const stage = dueStage(row.daysLeft, stages);
        return stage === undefined ? [] : [{ row, stage }];
      });
      const contacts = await store.contacts(due.map((d) => d.row));
      const done = await remindPage(store, ctx, due, contacts, opts);
      counts.alreadySent! += due.length - done.length;
      const delivered = await deliverNotices(ctx, done.flatMap((r) => (r.outboxId ? [r.outboxId] : [])));
      for (const { outboxId, ...r } of done) {
        if (outboxId) {
          const d = delivered.get(outboxId);
          r.outcome = d?.outcome ?? 'queued';
          r.message += `; ${deliveryNote('reminder', d)}`;
        }
        if (r.outcome === 'would_send') counts.wouldSend!++;
        else if (r.outcome in counts) counts[r.outcome]!++;
        yield r;
      }
    }
  }
  return { counts, results: run() };
}

interface Due {
  row: ExpiringRow;
  stage: number;
}

/**
 * Claim the due stages of a page and queue their mail together: one multi-row insert into agreement_reminders
 * (`on conflict do nothing`: a stage already sent is not claimed again), one multi-row outbox insert, one audit
 * insert, in one transaction. Accounts whose stage was already claimed are left out of the result.
 */
async function remindPage(store: AccountStore, ctx: AppContext, due: Due[], contacts: Map<number, AccountContacts>, opts: { dryRun?: boolean; ticket?: string | null }): Promise<Array<Outcome & { outboxId?: number }>> {
  const now = ctx.clock();
  const ticket = opts.ticket ?? null;
  const what = ({ row, stage }: Due) =>
    `${stage}-day reminder (${count(row.daysLeft, 'day')} left, expires ${ymd(row.account_expires_at)}; missing: ${row.missing.join(', ') || 'none'})`;
  // Only addresses that parse count: a stage with nobody to tell is not recorded, so a later run (after the
  // address is fixed) still sends it. (queueNotices drops and reports the invalid ones among them.)
  const addresses = (d: Due) => {
    const c = contacts.get(d.row.id);
    return [d.row.email, c?.supervisor?.email, c?.director?.email].filter((a): a is string => Boolean(a));
  };
  const sent = await alreadyClaimed(store, due);
  const open = due.filter((d) => !sent.has(key(d)));
  if (opts.dryRun) return open.map((d) => ({ user: d.row.username, outcome: 'would_send', message: `the ${what(d)}` }));
  const nobody = open.filter((d) => !addresses(d).some((a) => parseEmailAddress(a).ok));
  const sendable = open.filter((d) => !nobody.includes(d));
  const out: Array<Outcome & { outboxId?: number }> = nobody.map((d) => ({
    user: d.row.username,
    outcome: 'failed',
    message: `${what(d)} not sent: no valid email address for the user, the supervisor or the Executive Director`,
  }));
  if (!sendable.length) return out;
  const queued = await store.knex.transaction(async (trx) => {
    const claimed = (await trx('agreement_reminders')
      .insert(sendable.map((d) => ({ user_id: d.row.id, expires_at: d.row.account_expires_at, stage_days: d.stage, sent_at: now })))
      .onConflict(['user_id', 'expires_at', 'stage_days'])
      .ignore()
      .returning(['id', 'user_id'])) as Array<{ id: number | string; user_id: number | string }>;
    const claimId = new Map(claimed.map((c) => [Number(c.user_id), Number(c.id)]));
    const mine = sendable.filter((d) => claimId.has(d.row.id));
    const notices = mine.map((d) => {
      const c = contacts.get(d.row.id);
      const [to, ...cc] = addresses(d);
      return { to: to!, cc, notice: reminderNotice(d, to!, cc, c, ticket) };
    });
    const ids = await queueNotices(trx, ctx, notices.map((n) => n.notice));
    if (ids.length) {
      await trx.raw(
        `update agreement_reminders r set outbox_id = v.outbox_id from (select pg_catalog.unnest(?::bigint[]) as id, pg_catalog.unnest(?::bigint[]) as outbox_id) v where r.id = v.id`,
        [mine.map((d) => claimId.get(d.row.id)!), ids],
      );
    }
    // The reminder is a change like any other: the trail shows who was told what, and under which ticket.
    await writeAudits(
      trx,
      mine.map((d, i) => ({
        actor: ctx.config.actor,
        action: 'reminder.sent',
        userId: d.row.id,
        ticket,
        details: { stageDays: d.stage, expiresAt: d.row.account_expires_at ?? undefined, to: maskEmail(notices[i]!.to), cc: notices[i]!.cc.map(maskEmail), missing: d.row.missing },
      })),
    );
    return mine.map((d, i) => ({
      user: d.row.username,
      outcome: 'queued',
      message: `${what(d)}${d.row.email ? '' : ' (no address for the user: sent to the supervisor/director)'}`,
      outboxId: ids[i],
    }));
  });
  return [...out, ...queued];
}

const key = (d: Due) => `${d.row.id}|${d.row.account_expires_at ?? undefined}|${d.stage}`;

/** The due stages already on record (one query): a second run the same day sends nothing. */
async function alreadyClaimed(store: AccountStore, due: Due[]): Promise<Set<string>> {
  if (!due.length) return new Set();
  const rows = (await store.knex('agreement_reminders')
    .whereIn('user_id', [...new Set(due.map((d) => d.row.id))])
    .select('user_id', 'expires_at', 'stage_days')) as Array<{ user_id: number | string; expires_at: Date; stage_days: number | string }>;
  return new Set(rows.map((r) => `${Number(r.user_id)}|${new Date(r.expires_at).toISOString()}|${Number(r.stage_days)}`));
}

function reminderNotice(d: Due, to: string, cc: string[], c: AccountContacts | undefined, ticket: string | null): Notice {
  const { row, stage } = d;
  return {
    kind: 'reminder',
    userId: row.id,
    to,
    cc,
    subject: `Your HMIS account expires in ${row.daysLeft} day${row.daysLeft === 1 ? '' : 's'} (${ymd(row.account_expires_at)})`,
    greeting: `Hello ${fullName(row) || row.username},`,
    paragraphs: reminderText(row, c?.supervisor?.name, c?.director?.name ?? null),
    ticket,
    params: { stageDays: stage, expiresAt: row.account_expires_at ?? undefined },
  };
}

function reminderText(row: ExpiringRow, supervisor: string | undefined, director: string | null): string[] {
  const days = row.daysLeft === 0 ? 'today' : `in ${row.daysLeft} day${row.daysLeft === 1 ? '' : 's'}`;
  const missing = row.missing as Signer[];
  return [
    `Your HMIS user agreement expires ${days}, on ${ymd(row.account_expires_at)}. When it expires your HMIS account (${row.username}) is locked.`,
    missing.length
      ? `Still missing: ${missing.map(signerLabel).join('; ')}.`
      : 'All signatures are recorded; your HMIS administrator completes the renewal.',
    `The agreement is signed by you, your direct supervisor${supervisor ? ` (${supervisor})` : ''} and your agency's Executive Director${director ? ` (${director})` : ''}; ` +
      'this reminder is copied to both. Please get it signed and returned to your HMIS administrator before it expires.',
  ];
}
