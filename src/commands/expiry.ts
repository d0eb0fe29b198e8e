/** `expiring` (list, or --notify to send the due reminder stage) and `expire` (the cron job). */
import { confirmOrRefuse, refuseUnconfirmable, type AppContext } from '../context.js';
import { UsageError } from '../errors.js';
import type { ResultStream } from '../output/lockout-views.js';
import { tallied } from '../output/result-lines.js';
import { formatDuration, parseDuration } from '../parse.js';
import { resolveAgency } from '../services/accounts/accounts.js';
import { DAY_MS, utcDayStart } from '../services/accounts/days.js';
import { expireAccounts, expiringPages, type ExpiringRow } from '../services/accounts/expiry.js';
import { sendReminders } from '../services/notices/reminders.js';

/** How long a cron job waits for the embedded database's lock file. */
const CRON_LOCK_WAIT_MS = 10 * 60_000;

export interface ExpiringOpts {
  within?: string;
  includeExpired?: boolean;
  agency?: string;
  notify?: boolean;
  failIfAny?: boolean;
  dryRun?: boolean;
  yes?: boolean;
  ticket?: string;
}

export type ExpiringResult =
  | { kind: 'list'; rows: { pages: AsyncIterable<ExpiringRow[]> }; failIfAny: boolean; within: string; includeExpired: boolean }
  | ({ kind: 'notify' } & ResultStream);

/** Accounts whose agreement expires within --within (UTC calendar days), soonest first. */
export async function expiring(opts: ExpiringOpts, ctx: AppContext): Promise<ExpiringResult> {
  const withinMs = parseDuration(opts.within ?? '30d', '--within');
  if (opts.notify && opts.failIfAny) throw new UsageError('--notify sends reminders and --fail-if-any checks; run them as two commands');
  if (opts.notify && (opts.within !== undefined || opts.includeExpired)) {
    throw new UsageError('--notify works on the reminder stages (HMIS_REMINDER_DAYS), not --within or --include-expired; drop those flags');
  }
  if (opts.notify && !opts.dryRun) refuseUnconfirmable(ctx, opts.yes, '`expiring --notify`');
  // A cron job on the embedded database waits for another process's lock rather than failing.
  await ctx.db(opts.notify ? { lockWaitMs: CRON_LOCK_WAIT_MS } : undefined);
  const store = await ctx.store();
  const agencyId = opts.agency === undefined ? undefined : await resolveAgency(store, opts.agency);
  if (opts.notify) {
    // Bulk mail: asked on a terminal, --yes otherwise (the cron line carries it).
    if (!opts.dryRun) await confirmOrRefuse(ctx, 'Send every account its due agreement reminder now?', opts.yes, '`expiring --notify`');
    const run = sendReminders(ctx, { agencyId, dryRun: opts.dryRun, ticket: opts.ticket ?? null });
    if (opts.dryRun) {
      // The summary counts what the lines above it say: would_send, not the sends a dry run never makes.
      const seen: Record<string, number> = {};
      const counts = () => ({ wouldSend: seen.would_send ?? 0, alreadySent: run.counts.alreadySent ?? 0 });
      return {
        kind: 'notify',
        results: tallied(run.results, seen),
        summary: () => ({ counts: counts() }),
        after: () => `${counts().wouldSend} would be sent (dry run: nothing sent), ${counts().alreadySent} already reminded for their current stage`,
      };
    }
    return {
      kind: 'notify',
      results: run.results,
      summary: () => ({ counts: run.counts }),
      after: () => `${run.counts.sent} sent, ${run.counts.queued} queued, ${run.counts.failed} failed, ${run.counts.alreadySent} already reminded for their current stage`,
    };
  }
  const now = ctx.clock();
  // Whole days count calendar days ("30d" = 30 or fewer days left); shorter spans count from now.
  const before = withinMs % DAY_MS === 0 ? utcDayStart(now, withinMs / DAY_MS + 1) : new Date(now.getTime() + withinMs);
  return {
    kind: 'list',
    rows: { pages: expiringPages(store, { now, before, includeExpired: opts.includeExpired, agencyId }) },
    failIfAny: Boolean(opts.failIfAny),
    within: formatDuration(withinMs),
    includeExpired: Boolean(opts.includeExpired),
  };
}

export interface ExpireOpts {
  dryRun?: boolean;
  yes?: boolean;
  ticket?: string;
}

/** Lock every account whose agreement has expired; a second concurrent run does nothing and exits 0. */
export async function expire(opts: ExpireOpts, ctx: AppContext): Promise<ResultStream> {
  // Whether or not anything is due today: a cron line without --yes must fail on its first run.
  if (!opts.dryRun) refuseUnconfirmable(ctx, opts.yes, '`expire`');
  await ctx.db({ lockWaitMs: CRON_LOCK_WAIT_MS }); // embedded: wait for a run in progress, then find nothing left
  const store = await ctx.store();
  if (!opts.dryRun) {
    const n = await store.count({ expiredUnlockedAt: ctx.clock() });
    if (n > 0) await confirmOrRefuse(ctx, `Lock ${n} account(s) whose user agreement has expired?`, opts.yes, '`expire`');
  }
  const run = await expireAccounts(ctx, { dryRun: opts.dryRun, ticket: opts.ticket ?? null });
  if (run.running) {
    return {
      results: [],
      summary: () => ({ running: true, counts: run.counts }),
      after: () => 'another `hmis-admin expire` run holds the job lock (found the job running); nothing done',
    };
  }
  return {
    results: run.results,
    summary: () => ({ running: false, counts: run.counts }),
    after: () => `${run.counts.expired} account(s) ${opts.dryRun ? 'would be' : ''} locked for an expired agreement${run.counts.failed ? `, ${run.counts.failed} failed` : ''}`.replace('  ', ' '),
  };
}
