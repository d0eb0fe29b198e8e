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
import type { Knex } from 'knex';
import type { AppContext } from '../context.js';
import { count } from '../output/format.js';
import type { Outcome } from '../output/views.js';
import { fullName } from './accounts.js';
import { maskEmail, writeAudit } from './audit.js';
import { parseEmailAddress } from './email-address.js';
import { utcDayStart, ymd } from './days.js';
import type { Signer } from './detail.js';
import { expiringAccounts, inPages, signerLabel, type ExpiringRow } from './expiry.js';
import { deliverNotices, deliveryNote, queueNotice } from './notices.js';

/** The stage due at `daysLeft`, or undefined when none is (too early, or already expired). */
export function dueStage(daysLeft: number, stages: number[]): number | undefined {
  if (daysLeft < 0) return undefined;
  const due = stages.filter((s) => daysLeft <= s);
  return due.length ? Math.min(...due) : undefined;
}

interface Contacts {
  supervisors: Map<number, { email: string | null; name: string }>;
  directors: Map<number, { email: string | null; name: string | null }>;
}

async function contactsFor(db: Knex, page: ExpiringRow[]): Promise<Contacts> {
  const supIds = [...new Set(page.map((r) => r.supervisor_id).filter((x): x is number => x !== null))];
  const agIds = [...new Set(page.map((r) => r.agency_id).filter((x): x is number => x !== null))];
  const sups = supIds.length ? ((await db('users').whereIn('id', supIds).select('id', 'email', 'first_name', 'last_name')) as Array<{ id: number; email: string | null; first_name: string; last_name: string }>) : [];
  const dirs = agIds.length ? ((await db('agencies').whereIn('id', agIds).select('id', 'executive_director_email', 'executive_director_name')) as Array<{ id: number; executive_director_email: string | null; executive_director_name: string | null }>) : [];
  return {
    supervisors: new Map(sups.map((s) => [Number(s.id), { email: s.email, name: fullName(s) }])),
    directors: new Map(dirs.map((d) => [Number(d.id), { email: d.executive_director_email, name: d.executive_director_name }])),
  };
}

export interface ReminderRun {
  results: AsyncGenerator<Outcome>;
  counts: Record<string, number>;
}

/** Send each account in the window the stage due today, once. `agencyId` narrows the run. */
export function sendReminders(ctx: AppContext, opts: { agencyId?: number; dryRun?: boolean; ticket?: string | null }): ReminderRun {
  const counts: Record<string, number> = { sent: 0, queued: 0, failed: 0, alreadySent: 0 };
  const stages = ctx.config.reminderDays;
  async function* run(): AsyncGenerator<Outcome> {
    const { knex } = await ctx.db();
    const now = ctx.clock();
    const before = utcDayStart(now, Math.max(...stages) + 1);
    for await (const page of inPages(expiringAccounts(knex, { now, before, agencyId: opts.agencyId }), 500)) {
      const contacts = await contactsFor(knex, page);
      const done: Array<Outcome & { outboxId?: number }> = [];
      for (const row of page) {
        const stage = dueStage(row.daysLeft, stages);
        if (stage === undefined) continue;
        const r = await remindOne(knex, ctx, row, stage, contacts, opts);
        if (r) done.push(r);
        else counts.alreadySent!++;
      }
      const delivered = await deliverNotices(ctx, done.flatMap((r) => (r.outboxId ? [r.outboxId] : [])));
      for (const { outboxId, ...r } of done) {
        if (outboxId) {
          const d = delivered.get(outboxId);
          r.outcome = d?.outcome ?? 'queued';
          r.message += `; ${deliveryNote('reminder', d)}`;
        }
        if (r.outcome in counts) counts[r.outcome]!++;
        yield r;
      }
    }
  }
  return { counts, results: run() };
}

/** Claim the stage and queue the mail together; undefined when this stage was already sent. */
async function remindOne(
  knex: Knex,
  ctx: AppContext,
  row: ExpiringRow,
  stage: number,
  c: Contacts,
  opts: { dryRun?: boolean; ticket?: string | null },
): Promise<(Outcome & { outboxId?: number }) | undefined> {
  const sup = row.supervisor_id ? c.supervisors.get(row.supervisor_id) : undefined;
  const dir = row.agency_id ? c.directors.get(row.agency_id) : undefined;
  // Only addresses that parse count: a stage with nobody to tell is not recorded, so a later run (after
  // the address is fixed) still sends it.
  // (queueNotice drops and reports the invalid ones among them.)
  const addresses = [row.email, sup?.email, dir?.email].filter((a): a is string => Boolean(a));
  const what = `${stage}-day reminder (${count(row.daysLeft, 'day')} left, expires ${ymd(row.account_expires_at)}; missing: ${row.missing.join(', ') || 'none'})`;
  const now = ctx.clock();
  if (opts.dryRun) {
    const sent = await knex('agreement_reminders').where({ user_id: row.id, expires_at: row.account_expires_at, stage_days: stage }).first('id');
    return sent ? undefined : { user: row.username, outcome: 'would_send', message: `the ${what}` };
  }
  if (!addresses.some((a) => parseEmailAddress(a).ok)) {
    // Not recorded: the next run tries again once someone has an address on file.
    return { user: row.username, outcome: 'failed', message: `${what} not sent: no valid email address for the user, the supervisor or the Executive Director` };
  }
  return knex.transaction(async (trx) => {
    const claimed = (await trx.raw(
      `insert into agreement_reminders (user_id, expires_at, stage_days, sent_at) values (?, ?, ?, ?)
       on conflict (user_id, expires_at, stage_days) do nothing returning id`,
      [row.id, row.account_expires_at, stage, now],
    )).rows as Array<{ id: number }>;
    if (!claimed[0]) return undefined;
    const [to, ...cc] = addresses;
    const outboxId = await queueNotice(trx, ctx, {
      kind: 'reminder',
      userId: row.id,
      to: to!,
      cc,
      subject: `Your HMIS account expires in ${row.daysLeft} day${row.daysLeft === 1 ? '' : 's'} (${ymd(row.account_expires_at)})`,
      greeting: `Hello ${fullName(row) || row.username},`,
      paragraphs: reminderText(row, sup?.name, dir?.name ?? null),
      ticket: opts.ticket ?? null,
      params: { stageDays: stage, expiresAt: row.account_expires_at?.toISOString() },
    });
    await trx('agreement_reminders').where('id', claimed[0].id).update({ outbox_id: outboxId });
    // The reminder is a change like any other: the trail shows who was told what, and under which ticket.
    await writeAudit(trx, {
      actor: ctx.config.actor,
      action: 'reminder.sent',
      userId: row.id,
      ticket: opts.ticket ?? null,
      details: { stageDays: stage, expiresAt: row.account_expires_at?.toISOString(), to: maskEmail(to), cc: cc.map(maskEmail), missing: row.missing },
    });
    return { user: row.username, outcome: 'queued', message: `${what}${row.email ? '' : ' (no address for the user: sent to the supervisor/director)'}`, outboxId };
  });
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
